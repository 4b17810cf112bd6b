package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gureum/gureum/internal/image"
	"github.com/gureum/gureum/internal/node"
)

// kubeconfigFor picks the kubeconfig a client command uses: the flag, then
// the local server's admin kubeconfig, then $KUBECONFIG.
func kubeconfigFor(flag string) (*rest.Config, error) {
	path := flag
	if path == "" {
		local := filepath.Join(node.DefaultDataDir(), "kubeconfig.yaml")
		if _, err := os.Stat(local); err == nil {
			path = local
		}
	}
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		return nil, fmt.Errorf("no kubeconfig: start a server here (gureum up) or pass --kubeconfig PATH")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

func newImageCmd(stdout io.Writer) *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, import and list images in the cluster's built-in registry",
	}
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: the local server's admin kubeconfig, then $KUBECONFIG)")
	client := func() (*image.Client, error) {
		cfg, err := kubeconfigFor(kubeconfig)
		if err != nil {
			return nil, err
		}
		return image.NewClient(cfg)
	}

	var opts image.BuildOptions
	var tag string
	build := &cobra.Command{
		Use:   "build --rootfs DIR --tag NAME:TAG",
		Short: "Pack a directory into an image and push it; pods can then use image: NAME:TAG on any node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.RootFS == "" || tag == "" {
				return fmt.Errorf("both --rootfs DIR and --tag NAME:TAG are required")
			}
			img, err := image.Build(opts)
			if err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			ref, err := c.Push(cmd.Context(), tag, img)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "pushed %s\n", ref)
			return nil
		},
	}
	bf := build.Flags()
	bf.StringVar(&opts.RootFS, "rootfs", "", "directory that becomes the image's root filesystem")
	bf.StringVar(&tag, "tag", "", "name the image as pods will use it, e.g. web:1")
	bf.StringSliceVar(&opts.Entrypoint, "entrypoint", nil, "entrypoint, comma-separated (e.g. /bin/sh,-c)")
	bf.StringSliceVar(&opts.Cmd, "cmd", nil, "default arguments, comma-separated")
	bf.StringArrayVar(&opts.Env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	bf.StringVar(&opts.WorkingDir, "workdir", "", "working directory")

	var importTag string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Push an image from an OCI-layout or `docker save` tarball",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loaded, err := image.Load(args[0], importTag, os.TempDir())
			if err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			for _, l := range loaded {
				var ref string
				if l.Index != nil {
					ref, err = c.PushIndex(cmd.Context(), l.Ref, l.Index)
				} else {
					ref, err = c.Push(cmd.Context(), l.Ref, l.Image)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "pushed %s\n", ref)
			}
			return nil
		},
	}
	imp.Flags().StringVar(&importTag, "tag", "", "name the image NAME:TAG (required when the file carries no name)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the images in the cluster's registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			entries, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Repository, e.Tag, e.Digest)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(build, imp, list)
	return cmd
}
