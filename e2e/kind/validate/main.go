// Command validate checks kind cluster configs with kind's own API types: each file must decode
// strictly (no unknown or misspelt fields) into sigs.k8s.io/kind/pkg/apis/config/v1alpha4.Cluster,
// name that kind and apiVersion, and describe nodes kind can create (one control plane at least,
// roles control-plane or worker), after kind's own defaulting.
//
//	go run ./e2e/kind/validate FILE...
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func validate(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return fmt.Errorf("not a kind v1alpha4 Cluster: %w", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return fmt.Errorf("kind/apiVersion must be Cluster/kind.x-k8s.io/v1alpha4, got %s/%s", c.Kind, c.APIVersion)
	}
	v1alpha4.SetDefaultsCluster(&c)
	controlPlanes := 0
	for i, n := range c.Nodes {
		switch n.Role {
		case v1alpha4.ControlPlaneRole:
			controlPlanes++
		case v1alpha4.WorkerRole:
		default:
			return fmt.Errorf("nodes[%d]: unknown role %q (control-plane or worker)", i, n.Role)
		}
	}
	if controlPlanes == 0 {
		return fmt.Errorf("no control-plane node")
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate FILE...")
		os.Exit(2)
	}
	failed := false
	for _, f := range os.Args[1:] {
		if err := validate(f); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid\n", f)
	}
	if failed {
		os.Exit(1)
	}
}
