package kubetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

type files struct {
	certDir    string // the API server's generated serving certificate
	tokens     string // --token-auth-file
	saPrivate  string // signs service-account tokens
	saPublic   string // verifies them
	kubeconfig string
}

// adminUser authenticates with the token; system:masters is what a real
// cluster-admin credential carries, though AlwaysAllow makes it moot.
const adminUser = "kubetest-admin"

func writeFiles(dir, url, token string) (files, error) {
	f := files{
		certDir:    filepath.Join(dir, "certs"),
		tokens:     filepath.Join(dir, "tokens.csv"),
		saPrivate:  filepath.Join(dir, "sa.key"),
		saPublic:   filepath.Join(dir, "sa.pub"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
	}
	if err := os.Mkdir(f.certDir, 0o700); err != nil {
		return f, err
	}
	if err := writeFile(f.tokens, fmt.Sprintf("%s,%s,%s,system:masters\n", token, adminUser, adminUser)); err != nil {
		return f, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return f, fmt.Errorf("generate service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return f, fmt.Errorf("encode service-account key: %w", err)
	}
	if err := writeFile(f.saPrivate, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))); err != nil {
		return f, err
	}
	if err := writeFile(f.saPublic, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))); err != nil {
		return f, err
	}
	// The certificate does not exist yet: kubectl reads it when it first
	// connects, which is after Start has seen the server ready.
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: %s
current-context: kubetest
`, url, filepath.Join(f.certDir, "apiserver.crt"), adminUser, token, adminUser)
	return f, writeFile(f.kubeconfig, kubeconfig)
}

func writeFile(name, content string) error {
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(name), err)
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
