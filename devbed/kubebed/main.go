// Command kubebed runs the real Kubernetes control-plane components that the
// stretch-kafka test bed needs, built from the upstream Go modules:
//
//	kubebed pki --dir DIR --server URL       CA, serving, admin and service-account keys + kubeconfig
//	kubebed apiserver --etcd-dir DIR --etcd-client-port N --etcd-peer-port N -- <kube-apiserver flags>
//	kubebed controller-manager -- <kube-controller-manager flags>
//	kubebed scheduler -- <kube-scheduler flags>
//	kubebed kubectl -- <kubectl arguments>                kubectl itself (the tests drain nodes with it)
//
// One binary keeps the cold build to a single link of the shared dependencies.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kubectl "k8s.io/kubectl/pkg/cmd"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	// The test helper that started us may die without cleaning up (a killed
	// test runner); never outlive it.
	dieWithParent()

	if len(os.Args) < 2 {
		usage()
	}
	sub, rest := os.Args[1], os.Args[2:]
	switch sub {
	case "pki":
		if err := runPKI(rest); err != nil {
			fmt.Fprintln(os.Stderr, "kubebed pki:", err)
			os.Exit(1)
		}
	case "apiserver":
		own, passthrough := splitArgs(rest)
		stop, err := startEtcd(own)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubebed apiserver: cannot start etcd:", err)
			os.Exit(1)
		}
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(passthrough)
		code := cli.Run(cmd)
		stop()
		os.Exit(code)
	case "controller-manager":
		_, passthrough := splitArgs(rest)
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(passthrough)
		os.Exit(cli.Run(cmd))
	case "scheduler":
		_, passthrough := splitArgs(rest)
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(passthrough)
		os.Exit(cli.Run(cmd))
	case "kubectl":
		_, passthrough := splitArgs(rest)
		cmd := kubectl.NewDefaultKubectlCommand()
		cmd.SetArgs(passthrough)
		os.Exit(cli.Run(cmd))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubebed pki|apiserver|controller-manager|scheduler|kubectl [own flags] [-- component flags]")
	os.Exit(2)
}

// splitArgs separates our own flags from the component's flags at "--".
func splitArgs(args []string) (own, passthrough []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func dieWithParent() {
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	// If the parent is already gone, PDEATHSIG will never fire.
	if os.Getppid() == 1 {
		os.Exit(1)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		<-ch
		os.Exit(1)
	}()
}
