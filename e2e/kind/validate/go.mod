// Validates e2e/kind's cluster configs with kind's own API types (see main.go).
module kmm-hub.local/e2e/kind/validate

go 1.25.0

require (
	sigs.k8s.io/kind v0.30.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/pkg/errors v0.9.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
)
