package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/models/registry"
	"github.com/spf13/cobra"
)

// pullOptions are the flags of model pull.
type pullOptions struct {
	sha256 string
	mirror string
	cache  string
	list   bool
}

// newModelPullCmd builds model pull.
func newModelPullCmd(g *globalOptions) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull NAME|URL",
		Short: "Fetch a known model (or a URL) into the local model cache",
		Long: `pull fetches a model into the cache (` + "$" + registry.CacheEnv + `, else ~/.cache/edgeflow/models)
and prints its path. A mirror (--mirror or $` + registry.MirrorEnv + `: a folder or an http(s)
URL) is tried before upstream, for sites without internet. Every file is checked
against its SHA-256 before it enters the cache; a mismatch is an error and leaves
the cache as it was. Run with --list to see the known models.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.list {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tFILE\tLICENCE\tNOTES")
				for _, e := range registry.Known() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.File, e.License, e.Notes)
				}
				return tw.Flush()
			}
			log, err := g.logger("", "")
			if err != nil {
				return err
			}
			pr := newProgress(cmd.ErrOrStderr())
			p := &registry.Puller{Cache: o.cache, Mirror: o.mirror, Logger: &log,
				Progress: func(done, total int64) { pr.Bytes("downloading "+args[0], done, total) }}
			path, err := p.Pull(cmd.Context(), args[0], o.sha256)
			pr.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sha256, "sha256", "", "expected SHA-256 of a model pulled by URL")
	f.StringVar(&o.mirror, "mirror", "", "folder or http(s) URL to try first (default $"+registry.MirrorEnv+")")
	f.StringVar(&o.cache, "cache", "", "cache directory (default $"+registry.CacheEnv+" or ~/.cache/edgeflow/models)")
	f.BoolVar(&o.list, "list", false, "list the known models")
	return cmd
}
