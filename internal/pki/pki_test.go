package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestCAIsReusedAndSignsCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.Equal(again.Cert) {
		t.Fatal("a second start created a new CA instead of reusing it")
	}
	certPEM, keyPEM, err := ca.Issue("alice", []string{"devs"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("client pair: %v", err)
	}
	b, _ := pem.Decode(certPEM)
	c, _ := x509.ParseCertificate(b.Bytes)
	if c.Subject.CommonName != "alice" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "devs" {
		t.Errorf("subject = %v", c.Subject)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the CA: %v", err)
	}
}

func TestServingCertificateCoversHostsAndIsReissuedForNewOnes(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.LoadOrIssueServing(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	same, err := ca.LoadOrIssueServing(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) != string(same.Certificate[0]) {
		t.Error("the serving certificate was reissued although it covered the hosts")
	}
	wider, err := ca.LoadOrIssueServing(dir, []string{"localhost", "127.0.0.1", "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(wider.Certificate[0])
	if err := leaf.VerifyHostname("10.0.0.5"); err != nil {
		t.Errorf("new host not covered: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Errorf("serving certificate does not verify: %v", err)
	}
}
