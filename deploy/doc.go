// Package deploy holds what production needs besides the binaries: a Prometheus
// scrape configuration and alert rules (prometheus/), and a Grafana dashboard
// (grafana/). Its test checks that every metric the rules and the dashboard name
// is one meshflow or the Temporal SDK exports.
package deploy
