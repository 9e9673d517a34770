// Command ociimage builds flinkgate's container image (or the e2e node's
// pause image) from a static binary as an OCI image layout tarball, without
// Docker: `make image-oci`, and the node e2e, which imports it into
// containerd with `ctr images import`.
package main

import (
	"flag"
	"fmt"
	"os"

	"flinkgate.io/flinkgate/internal/ociimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	binary := fs.String("binary", "", "the static linux binary to put in the image (required)")
	kind := fs.String("image", "flinkgate", "which image: flinkgate (as the Dockerfile builds it) or pause")
	ref := fs.String("ref", "", "the image's full name, e.g. flinkgate.local/flinkgate:dev (required)")
	out := fs.String("out", "", "the OCI layout tarball to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || *ref == "" || *out == "" {
		return fmt.Errorf("-binary, -ref and -out are required")
	}
	specs := map[string]ociimage.Spec{"flinkgate": ociimage.Flinkgate, "pause": ociimage.Pause}
	spec, ok := specs[*kind]
	if !ok {
		return fmt.Errorf("-image %q: want flinkgate or pause", *kind)
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return fmt.Errorf("read binary: %w", err)
	}
	img, err := ociimage.Build(bin, spec)
	if err != nil {
		return err
	}
	if err := ociimage.WriteOCI(*out, *ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	fmt.Printf("%s %s %s\n", *out, *ref, digest)
	return nil
}
