package node

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gureum/gureum/internal/pki"
)

// writeAdminKubeconfig writes a kubeconfig with a client certificate in
// system:masters, so kubectl works as cluster admin.
func writeAdminKubeconfig(ca *pki.CA, url, path string) error {
	certPEM, keyPEM, err := ca.Issue("gureum-admin", []string{"system:masters"}, nil, 365*24*time.Hour)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gureum"] = &clientcmdapi.Cluster{Server: url, CertificateAuthorityData: ca.CertPEM}
	cfg.AuthInfos["gureum-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["gureum"] = &clientcmdapi.Context{Cluster: "gureum", AuthInfo: "gureum-admin", Namespace: "default"}
	cfg.CurrentContext = "gureum"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for kubeconfig %s: %w", path, err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}
