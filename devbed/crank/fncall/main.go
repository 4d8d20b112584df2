// fncall calls a composition function over gRPC the way Crossplane's function
// runner does (grpc-go, grpc.NewClient with its default transport settings), so
// that the function benchmark measures RunFunction from a Go caller, not from
// a JavaScript client whose own protobuf work and pauses would be in the figure.
//
// It reads one RunFunctionRequest (binary protobuf) from -request, warms the
// connection and the function, then calls RunFunction -n times, each call with
// its own meta.tag (-mode fresh: a request the function has not seen) or all
// with one tag (-mode repeated: an unchanged composite reconciled again). A
// call is timed from sending the request's bytes to having the response's
// bytes: decoding the response into Go messages is the caller's work, not the
// function's, so it is timed apart (decodeMs, the median of 21 decodes).
// Prints one JSON object: every call's milliseconds in order, the response's
// size and resource count, decodeMs, how many calls warmed up, and the first
// fatal result if any.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/certificates"
	fnv1 "github.com/crossplane/crossplane/v2/proto/fn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

type report struct {
	Ms            []float64 `json:"ms"`
	ResponseBytes int       `json:"responseBytes"`
	Resources     int       `json:"resources"`
	DecodeMs      float64   `json:"decodeMs"`
	WarmCalls     int       `json:"warmCalls"`
	Fatal         string    `json:"fatal,omitempty"`
}

// bytesCodec sends and receives messages as the bytes they are on the wire.
type bytesCodec struct{}

func (bytesCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (bytesCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

func (bytesCodec) Name() string { return "proto" }

func main() {
	address := flag.String("address", "", "the function's host:port")
	requestFile := flag.String("request", "", "a RunFunctionRequest, binary protobuf")
	n := flag.Int("n", 100, "calls to measure")
	mode := flag.String("mode", "fresh", "fresh (a new tag per call) or repeated (one tag)")
	tag := flag.String("tag", "bench", "tag prefix")
	warm := flag.Duration("warm", time.Second, "how long to call before measuring")
	maxRecvMiB := flag.Int("max-recv-mib", 4, "largest response accepted; 4 is grpc-go's default, which Crossplane keeps")
	tlsDir := flag.String("tls-client-certs-dir", "", "dial with TLS as Crossplane does, presenting tls.crt/tls.key and trusting ca.crt from this directory (its TLS_CLIENT_CERTS_DIR); empty: insecure")
	flag.Parse()
	creds := insecure.NewCredentials()
	if *tlsDir != "" {
		cfg, err := certificates.LoadMTLSConfig(filepath.Join(*tlsDir, "ca.crt"), filepath.Join(*tlsDir, "tls.crt"), filepath.Join(*tlsDir, "tls.key"), false)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fncall:", err)
			os.Exit(1)
		}
		creds = credentials.NewTLS(cfg)
	}
	if err := run(*address, *requestFile, *n, *mode, *tag, *warm, *maxRecvMiB<<20, creds); err != nil {
		fmt.Fprintln(os.Stderr, "fncall:", err)
		os.Exit(1)
	}
}

func run(address, requestFile string, n int, mode, tag string, warm time.Duration, maxRecv int, creds credentials.TransportCredentials) error {
	if mode != "fresh" && mode != "repeated" {
		return fmt.Errorf("-mode must be fresh or repeated, not %q", mode)
	}
	raw, err := os.ReadFile(requestFile)
	if err != nil {
		return err
	}
	base := &fnv1.RunFunctionRequest{}
	if err := proto.Unmarshal(raw, base); err != nil {
		return fmt.Errorf("%s is not a RunFunctionRequest: %w", requestFile, err)
	}
	tagged := func(t string) ([]byte, error) {
		r := proto.Clone(base).(*fnv1.RunFunctionRequest)
		if r.Meta == nil {
			r.Meta = &fnv1.RequestMeta{}
		}
		r.Meta.Tag = t
		return proto.MarshalOptions{Deterministic: true}.Marshal(r)
	}
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx := context.Background()
	call := func(req []byte) ([]byte, error) {
		var rsp []byte
		err := conn.Invoke(ctx, fnv1.FunctionRunnerService_RunFunction_FullMethodName, &req, &rsp,
			grpc.ForceCodec(bytesCodec{}))
		return rsp, err
	}
	tagOf := func(i int) string {
		if mode == "repeated" {
			return tag
		}
		return fmt.Sprintf("%s-%d", tag, i)
	}

	// The function is a long-running server: the figure is its steady state,
	// not the first calls that still compile code.
	var sample []byte
	warmCalls := 0
	until := time.Now().Add(warm)
	for i := 0; i < 3 || time.Now().Before(until); i++ {
		warmCalls++
		req, err := tagged(tagOf(-1 - i))
		if err != nil {
			return err
		}
		if sample, err = call(req); err != nil {
			return err
		}
	}
	requests := make([][]byte, n)
	for i := range requests {
		if requests[i], err = tagged(tagOf(i)); err != nil {
			return err
		}
	}
	out := report{Ms: make([]float64, 0, n), ResponseBytes: len(sample), WarmCalls: warmCalls}
	for _, req := range requests {
		started := time.Now()
		if _, err := call(req); err != nil {
			return err
		}
		out.Ms = append(out.Ms, float64(time.Since(started).Nanoseconds())/1e6)
	}

	decodes := make([]float64, 21)
	rsp := &fnv1.RunFunctionResponse{}
	for i := range decodes {
		started := time.Now()
		rsp = &fnv1.RunFunctionResponse{}
		if err := proto.Unmarshal(sample, rsp); err != nil {
			return fmt.Errorf("the response is not a RunFunctionResponse: %w", err)
		}
		decodes[i] = float64(time.Since(started).Nanoseconds()) / 1e6
	}
	sort.Float64s(decodes)
	out.DecodeMs = decodes[len(decodes)/2]
	out.Resources = len(rsp.GetDesired().GetResources())
	for _, r := range rsp.GetResults() {
		if r.GetSeverity() == fnv1.Severity_SEVERITY_FATAL {
			out.Fatal = r.GetMessage()
			break
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
