package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestServeTLS: with --tls-cert and --tls-key both listeners speak TLS: HTTPS
// answers, plain HTTP does not, and a gRPC client with TLS credentials gets
// SERVING from the health service; with --admin-addr the admin endpoints
// move to their own listener.
func TestServeTLS(t *testing.T) {
	dir, bin := buildBinary(t)
	certFile, keyFile, pool := selfSigned(t, dir)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	adminAddr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
		"--tls-cert", certFile, "--tls-key", keyFile, "--admin-addr", adminAddr)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() }()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	var resp *http.Response
	var err error
	for range 200 {
		if resp, err = client.Get("https://" + httpAddr + "/v1/openapi.json"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTPS /v1/openapi.json: %v %v", resp, err)
	}
	resp.Body.Close()
	if plain, err := http.Get("http://" + httpAddr + "/v1/openapi.json"); err == nil && plain.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
	// --admin-addr: the admin endpoints there, in plain HTTP, and not on the public listener
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r, err := http.Get("http://" + adminAddr + p); err != nil || r.StatusCode != 200 {
			t.Fatalf("admin %s: %v %v", p, r, err)
		}
		if r, err := client.Get("https://" + httpAddr + p); err != nil || r.StatusCode != 404 {
			t.Fatalf("public %s with --admin-addr: %v %v", p, r, err)
		}
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health over TLS: %v %v", h, err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a
// pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "identityd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
