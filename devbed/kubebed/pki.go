package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// runPKI writes everything one test control plane needs to serve verified TLS:
// a CA, the API server's serving certificate, an admin client certificate
// (system:masters), the service-account signing key pair and a kubeconfig.
// Existing files are kept, so a restarted cluster keeps its identity.
func runPKI(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "output directory")
	server := fs.String("server", "", "API server URL, e.g. https://127.0.0.1:6443")
	name := fs.String("name", "kubebed", "cluster name used in the kubeconfig")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *server == "" {
		return fmt.Errorf("--dir and --server are required")
	}
	u, err := url.Parse(*server)
	if err != nil {
		return fmt.Errorf("invalid --server: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*dir, "kubeconfig")); err == nil {
		return nil
	}

	caKey, caCert, err := newCert(nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: *name + "-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return err
	}
	host := u.Hostname()
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	if ip := net.ParseIP(host); ip != nil {
		serving.IPAddresses = append(serving.IPAddresses, ip)
	} else {
		serving.DNSNames = append(serving.DNSNames, host)
	}
	srvKey, srvCert, err := newCert(caKey, caCert, serving)
	if err != nil {
		return err
	}
	admKey, admCert, err := newCert(caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubebed-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}

	files := map[string][]byte{
		"ca.crt":        certPEM(caCert),
		"ca.key":        keyPEM(caKey),
		"apiserver.crt": certPEM(srvCert),
		"apiserver.key": keyPEM(srvKey),
		"admin.crt":     certPEM(admCert),
		"admin.key":     keyPEM(admKey),
		"sa.key":        keyPEM(saKey),
		"sa.pub":        pubPEM(&saKey.PublicKey),
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(*dir, f), b, 0o600); err != nil {
			return err
		}
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[1]s-admin
  user:
    client-certificate-data: %[4]s
    client-key-data: %[5]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[1]s-admin
current-context: %[1]s
`, *name, *server, b64(files["ca.crt"]), b64(files["admin.crt"]), b64(files["admin.key"]))
	// Written last: its presence marks a complete PKI directory.
	return os.WriteFile(filepath.Join(*dir, "kubeconfig"), []byte(kubeconfig), 0o600)
}

func newCert(parentKey *ecdsa.PrivateKey, parent, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parentKey, parent
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func pubPEM(k *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
