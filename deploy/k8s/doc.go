// Package k8s holds the Kubernetes manifests of hashatlas: a kustomize base (base/) and the dev
// and prod overlays (overlays/). It has no Go code of its own: its tests build every overlay
// with the kustomize Go API, decode each object strictly into its Kubernetes API type, check
// the custom resources' structure, run every container's command line through the real
// binary with --check-config, compare the KafkaTopics with schemas.Topics(), and evaluate the
// NetworkPolicies for the pods the Altinity operator makes of the ClickHouse and Keeper
// installations (who may reach the replicated ClickHouse and its Keeper).
package k8s
