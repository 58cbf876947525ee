// Package deploy holds what production needs besides the binaries: the container
// image (docker/), a compose file with Temporal on PostgreSQL, an S3-compatible
// store, workers per domain, serve, Prometheus and Grafana (compose/), Kubernetes
// manifests for meshflow's parts (k8s/), bucket and IAM policies (s3/, iam/), a
// Prometheus scrape configuration and alert rules (prometheus/), and a Grafana
// dashboard (grafana/). README.md explains the topology and the security settings.
//
// Its tests check that the files hold together: every metric the rules and the
// dashboard name is one meshflow or the Temporal SDK exports, and every command,
// flag, environment variable, port and image the topology uses exists in the
// binary built without the embedded dev server.
package deploy
