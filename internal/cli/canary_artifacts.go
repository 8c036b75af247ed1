package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/canary"
)

// canaryArtifactArgs holds the flags shared by canary generate and
// canary instrument.
type canaryArtifactArgs struct {
	slug     string
	httpBase string
	dnsZone  string
	persona  string
	out      string
}

func (a *canaryArtifactArgs) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.slug, "slug", "", "token slug (26 base32 characters); empty makes a new one")
	cmd.Flags().StringVar(&a.httpBase, "http-base", "", "public base URL of the HTTP callback receiver, e.g. https://cdn.example.net")
	cmd.Flags().StringVar(&a.dnsZone, "dns-zone", "", "zone of the DNS callback receiver; empty disables DNS callbacks")
	cmd.Flags().StringVar(&a.persona, "persona", "linux", "decky persona for the placement path: linux or windows")
	cmd.Flags().StringVar(&a.out, "out", "", "file to write the artifact to")
	_ = cmd.MarkFlagRequired("http-base")
	_ = cmd.MarkFlagRequired("out")
}

func (a *canaryArtifactArgs) context(fileName string) (canary.Context, error) {
	persona, err := canary.ParsePersona(a.persona)
	if err != nil {
		return canary.Context{}, err
	}
	s := a.slug
	if s == "" {
		if s, err = canary.NewSlug(); err != nil {
			return canary.Context{}, err
		}
	}
	ctx := canary.Context{Slug: s, HTTPBase: a.httpBase, DNSZone: a.dnsZone, Persona: persona, FileName: fileName}
	return ctx, ctx.Validate()
}

// canaryArtifactReport is the JSON printed by canary generate and
// canary instrument.
type canaryArtifactReport struct {
	Generator        string       `json:"generator,omitempty"`
	Instrumenter     string       `json:"instrumenter,omitempty"`
	MIME             string       `json:"mime"`
	Kind             string       `json:"kind"`
	Slug             string       `json:"slug"`
	CallbackURL      string       `json:"callback_url"`
	DNSHost          string       `json:"dns_host,omitempty"`
	Out              string       `json:"out"`
	Size             int64        `json:"size"`
	SHA256           string       `json:"sha256"`
	Mode             string       `json:"mode"`
	MtimeOffsetSec   int64        `json:"mtime_offset_seconds"`
	DefaultPlacement string       `json:"default_placement"`
	Notes            canary.Notes `json:"notes"`
}

func newCanaryGenerateCmd(g *globals) *cobra.Command {
	var args canaryArtifactArgs
	cmd := &cobra.Command{
		Use:   "generate GENERATOR",
		Short: "Write a synthesised canary artifact to a file",
		Long: "Write a synthesised canary artifact to a file and print its metadata as JSON.\n\n" +
			"Generators: " + fmt.Sprint(canary.Generators()),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			ctx, err := args.context("")
			if err != nil {
				return err
			}
			a, err := canary.Generate(pos[0], ctx)
			if err != nil {
				return err
			}
			sum, size, err := writeArtifactFile(args.out, a.Mode, func(w io.Writer) error {
				_, err := w.Write(a.Content)
				return err
			})
			if err != nil {
				return err
			}
			return printArtifactReport(g.stdout, ctx, a, args.out, sum, size)
		},
	}
	args.register(cmd)
	return cmd
}

func newCanaryInstrumentCmd(g *globals) *cobra.Command {
	var args canaryArtifactArgs
	var in, instrumenter string
	cmd := &cobra.Command{
		Use:   "instrument",
		Short: "Rewrite a file so that opening or using it calls back",
		Long: "Rewrite a file so that opening or using it calls back, and print the\n" +
			"detected media type, chosen instrumenter and placement as JSON.\n\n" +
			"Instrumenters: " + fmt.Sprint(canary.Instrumenters()),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, err := args.context(filepath.Base(in))
			if err != nil {
				return err
			}
			src, err := os.Open(in)
			if err != nil {
				return fmt.Errorf("open --in: %w", err)
			}
			defer src.Close()
			info, err := src.Stat()
			if err != nil {
				return fmt.Errorf("stat --in: %w", err)
			}

			var a canary.Artifact
			sum, size, err := writeArtifactFile(args.out, 0o644, func(w io.Writer) error {
				var err error
				a, err = canary.InstrumentTo(instrumenter, ctx, src, info.Size(), w)
				return err
			})
			if err != nil {
				return err
			}
			if err := os.Chmod(args.out, a.Mode); err != nil {
				return fmt.Errorf("chmod --out: %w", err)
			}
			return printArtifactReport(g.stdout, ctx, a, args.out, sum, size)
		},
	}
	args.register(cmd)
	cmd.Flags().StringVar(&in, "in", "", "file to instrument")
	cmd.Flags().StringVar(&instrumenter, "instrumenter", "auto", "instrumenter name, or auto to pick one from the detected media type")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

// writeArtifactFile writes through a temporary file in the target
// directory and renames it into place, so a failed run leaves no partial
// output. It returns the SHA-256 and size of what was written.
func writeArtifactFile(path string, mode os.FileMode, write func(io.Writer) error) (string, int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".artifact-*")
	if err != nil {
		return "", 0, fmt.Errorf("create --out: %w", err)
	}
	defer os.Remove(tmp.Name())

	h := sha256.New()
	cw := &byteCounter{}
	if err := write(io.MultiWriter(tmp, h, cw)); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("chmod --out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("write --out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, fmt.Errorf("write --out: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func printArtifactReport(w io.Writer, ctx canary.Context, a canary.Artifact, out, sum string, size int64) error {
	r := canaryArtifactReport{
		Generator:        a.Generator,
		Instrumenter:     a.Instrumenter,
		MIME:             a.MIME,
		Kind:             string(a.Kind),
		Slug:             ctx.Slug,
		CallbackURL:      ctx.CallbackURL(),
		DNSHost:          ctx.DNSHost(),
		Out:              out,
		Size:             size,
		SHA256:           sum,
		Mode:             fmt.Sprintf("%04o", a.Mode.Perm()),
		MtimeOffsetSec:   int64(a.MtimeOffset.Seconds()),
		DefaultPlacement: a.Path,
		Notes:            a.Notes,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
