package k8s_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// binary is the plain build of cmd/hashatlas (no chdb tag, like the image's), built once by
// TestMain. It keeps the environment's cgo setting so that it shares the compile cache with the
// other tests; the image's static build is checked in deploy/image.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hashatlas-k8s-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hashatlas")
	build := exec.Command("go", "build", "-o", binary, "./cmd/hashatlas")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the hashatlas binary for the manifest tests: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// kustomizations are the directories built: the base and every overlay.
func kustomizations(t *testing.T) []string {
	t.Helper()
	dirs := []string{"base"}
	entries, err := os.ReadDir("overlays")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("overlays", e.Name()))
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("kustomizations %v: want the base, dev and prod", dirs)
	}
	return dirs
}

// object is one resource of a kustomize build, as JSON.
type object struct {
	apiVersion, kind, name string
	raw                    []byte
}

func (o object) String() string { return o.kind + "/" + o.name }

// build runs kustomize on dir through its Go API, as `kustomize build dir` does.
func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range rm.Resources() {
		raw, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s/%s to JSON: %v", dir, r.GetKind(), r.GetName(), err)
		}
		out = append(out, object{apiVersion: r.GetApiVersion(), kind: r.GetKind(), name: r.GetName(), raw: raw})
	}
	return out
}

// decodeStrict decodes JSON into v the way the API server does for typed objects: field names
// are case-sensitive, and an unknown or duplicate field is an error.
func decodeStrict(raw []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(raw, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// builtinTypes are the Kubernetes API types of the built-in kinds the manifests may use.
var builtinTypes = map[string]func() any{
	"v1/ConfigMap":                                      func() any { return &corev1.ConfigMap{} },
	"v1/Service":                                        func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                                 func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                                func() any { return &appsv1.Deployment{} },
	"batch/v1/CronJob":                                  func() any { return &batchv1.CronJob{} },
	"batch/v1/Job":                                      func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":                     func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":                func() any { return &networkingv1.NetworkPolicy{} },
	"kafka.strimzi.io/v1/KafkaTopic":                    func() any { return &kafkaTopic{} },
	"monitoring.coreos.com/v1/ServiceMonitor":           func() any { return &serviceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":           func() any { return &prometheusRule{} },
	"clickhouse.altinity.com/v1/ClickHouseInstallation": func() any { return &clickHouseInstallation{} },
	"clickhouse-keeper.altinity.com/v1/ClickHouseKeeperInstallation": func() any { return &clickHouseKeeperInstallation{} },
}

// The custom resources are decoded, strictly too, into the part of their published schema that
// hashatlas uses; a field outside it (a typo, or a field of another API version) fails.

// kafkaTopic is Strimzi's KafkaTopic, API version v1 (KafkaTopicSpec:
// https://strimzi.io/docs/operators/latest/configuring#type-KafkaTopicSpec-reference).
type kafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		TopicName  string                     `json:"topicName"`
		Partitions int                        `json:"partitions"`
		Replicas   int                        `json:"replicas"`
		Config     map[string]json.RawMessage `json:"config"`
	} `json:"spec"`
}

// serviceMonitor is the Prometheus operator's ServiceMonitor
// (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.ServiceMonitor).
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port        string `json:"port"`
			Path        string `json:"path"`
			Interval    string `json:"interval"`
			HonorLabels bool   `json:"honorLabels"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the Prometheus operator's PrometheusRule
// (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRule).
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// clickHouseInstallation is Altinity's ClickHouseInstallation, API version v1
// (https://github.com/Altinity/clickhouse-operator/blob/master/docs/custom_resource_explained.md);
// its pod and volume claim templates are Kubernetes types and decode strictly as such.
type clickHouseInstallation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Defaults      altinityDefaults `json:"defaults"`
		Configuration struct {
			Zookeeper struct {
				Nodes []struct {
					Host string `json:"host"`
					Port int    `json:"port"`
				} `json:"nodes"`
			} `json:"zookeeper"`
			Users    map[string]json.RawMessage `json:"users"`
			Clusters []struct {
				Name   string `json:"name"`
				Layout struct {
					ShardsCount   int `json:"shardsCount"`
					ReplicasCount int `json:"replicasCount"`
				} `json:"layout"`
			} `json:"clusters"`
		} `json:"configuration"`
		Templates altinityTemplates `json:"templates"`
	} `json:"spec"`
}

// clickHouseKeeperInstallation is Altinity's ClickHouseKeeperInstallation, API version v1 of
// clickhouse-keeper.altinity.com (operator 0.24 or later;
// https://github.com/Altinity/clickhouse-operator/tree/master/docs/chk-examples). Its settings
// are ClickHouse Keeper configuration paths (keeper_server/tcp_port) with string values.
type clickHouseKeeperInstallation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Defaults      altinityDefaults `json:"defaults"`
		Configuration struct {
			Settings map[string]string `json:"settings"`
			Clusters []struct {
				Name   string `json:"name"`
				Layout struct {
					ReplicasCount int `json:"replicasCount"`
				} `json:"layout"`
			} `json:"clusters"`
		} `json:"configuration"`
		Templates altinityTemplates `json:"templates"`
	} `json:"spec"`
}

// altinityDefaults and altinityTemplates are the parts of spec.defaults and spec.templates both
// Altinity resources share.
type altinityDefaults struct {
	Templates struct {
		PodTemplate             string `json:"podTemplate"`
		DataVolumeClaimTemplate string `json:"dataVolumeClaimTemplate"`
	} `json:"templates"`
}

type altinityTemplates struct {
	PodTemplates []struct {
		Name     string            `json:"name"`
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     corev1.PodSpec    `json:"spec"`
	} `json:"podTemplates"`
	VolumeClaimTemplates []struct {
		Name string                           `json:"name"`
		Spec corev1.PersistentVolumeClaimSpec `json:"spec"`
	} `json:"volumeClaimTemplates"`
}

// manifests is one decoded build.
type manifests struct {
	dir          string
	configMaps   map[string]*corev1.ConfigMap
	services     []*corev1.Service
	deployments  []*appsv1.Deployment
	cronJobs     []*batchv1.CronJob
	jobs         []*batchv1.Job
	pdbs         []*policyv1.PodDisruptionBudget
	policies     []*networkingv1.NetworkPolicy
	topics       []*kafkaTopic
	monitors     []*serviceMonitor
	rules        []*prometheusRule
	clickhouses  []*clickHouseInstallation
	keepers      []*clickHouseKeeperInstallation
	accounts     []*corev1.ServiceAccount
	objectsCount int
}

// decodeAll decodes every object of a build into its type; an object of a kind not listed, or
// that does not decode strictly, fails the test.
func decodeAll(t *testing.T, dir string, objs []object) *manifests {
	t.Helper()
	m := &manifests{dir: dir, configMaps: map[string]*corev1.ConfigMap{}, objectsCount: len(objs)}
	for _, o := range objs {
		newT, ok := builtinTypes[o.apiVersion+"/"+o.kind]
		if !ok {
			t.Errorf("%s: %s has apiVersion %s kind %s, which the tests do not know; add its type", dir, o, o.apiVersion, o.kind)
			continue
		}
		v := newT()
		if err := decodeStrict(o.raw, v); err != nil {
			t.Errorf("%s: %s: %v", dir, o, err)
			continue
		}
		switch x := v.(type) {
		case *corev1.ConfigMap:
			m.configMaps[x.Name] = x
		case *corev1.Service:
			m.services = append(m.services, x)
		case *corev1.ServiceAccount:
			m.accounts = append(m.accounts, x)
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, x)
		case *batchv1.CronJob:
			m.cronJobs = append(m.cronJobs, x)
		case *batchv1.Job:
			m.jobs = append(m.jobs, x)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, x)
		case *networkingv1.NetworkPolicy:
			m.policies = append(m.policies, x)
		case *kafkaTopic:
			m.topics = append(m.topics, x)
		case *serviceMonitor:
			m.monitors = append(m.monitors, x)
		case *prometheusRule:
			m.rules = append(m.rules, x)
		case *clickHouseInstallation:
			m.clickhouses = append(m.clickhouses, x)
		case *clickHouseKeeperInstallation:
			m.keepers = append(m.keepers, x)
		}
	}
	return m
}

// decoded builds and decodes every kustomization once per test binary run.
var decodedCache = map[string]*manifests{}

func decoded(t *testing.T) []*manifests {
	t.Helper()
	var out []*manifests
	for _, dir := range kustomizations(t) {
		m, ok := decodedCache[dir]
		if !ok {
			m = decodeAll(t, dir, build(t, dir))
			decodedCache[dir] = m
		}
		out = append(out, m)
	}
	return out
}

// TestEveryKustomizationBuildsAndEveryObjectDecodesStrictly builds the base and every overlay
// with the kustomize Go API and decodes each object into its Kubernetes API type (built-in
// kinds) or into the schema it follows (custom resources), refusing unknown fields.
func TestEveryKustomizationBuildsAndEveryObjectDecodesStrictly(t *testing.T) {
	for _, m := range decoded(t) {
		if len(m.cronJobs) == 0 || len(m.deployments) != 1 || len(m.jobs) != 1 || len(m.topics) == 0 ||
			len(m.clickhouses) != 1 || len(m.keepers) != 1 || len(m.monitors) != 1 || len(m.rules) != 1 || len(m.pdbs) != 1 || len(m.policies) == 0 {
			t.Errorf("%s: %d objects, missing kinds: %d CronJobs, %d Deployments, %d Jobs, %d KafkaTopics, %d ClickHouseInstallations, %d ClickHouseKeeperInstallations, %d ServiceMonitors, %d PrometheusRules, %d PDBs, %d NetworkPolicies",
				m.dir, m.objectsCount, len(m.cronJobs), len(m.deployments), len(m.jobs), len(m.topics), len(m.clickhouses), len(m.keepers), len(m.monitors), len(m.rules), len(m.pdbs), len(m.policies))
		}
		for name := range m.configMaps {
			if strings.HasPrefix(name, "hashatlas-config") {
				continue
			}
			t.Errorf("%s: unexpected ConfigMap %s", m.dir, name)
		}
	}
}

// TestStrictDecodingRefusesUnknownAndMiscasedFields shows the decoding above can fail: a
// CronJob with a misspelt field, one with a field in the wrong case, and a KafkaTopic with a
// field of no schema are refused.
func TestStrictDecodingRefusesUnknownAndMiscasedFields(t *testing.T) {
	cases := []struct {
		name, doc string
		into      func() any
	}{
		{"a misspelt CronJob field", `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"x"},"spec":{"schedule":"* * * * *","concurencyPolicy":"Forbid","jobTemplate":{}}}`,
			func() any { return &batchv1.CronJob{} }},
		{"a CronJob field in the wrong case", `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"x"},"spec":{"Schedule":"* * * * *","jobTemplate":{}}}`,
			func() any { return &batchv1.CronJob{} }},
		{"a container field of no schema", `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"},"spec":{"template":{"spec":{"containers":[{"name":"a","argz":["migrate"]}]}}}}`,
			func() any { return &batchv1.Job{} }},
		{"a KafkaTopic field of no schema", `{"apiVersion":"kafka.strimzi.io/v1","kind":"KafkaTopic","metadata":{"name":"x"},"spec":{"partitions":1,"replicationFactor":3}}`,
			func() any { return &kafkaTopic{} }},
		{"a ClickHouseInstallation Keeper reference of no schema", `{"apiVersion":"clickhouse.altinity.com/v1","kind":"ClickHouseInstallation","metadata":{"name":"x"},"spec":{"configuration":{"zookeeper":{"nodes":[{"hostname":"keeper-x","port":2181}]}}}}`,
			func() any { return &clickHouseInstallation{} }},
		{"a ClickHouseKeeperInstallation layout field of no schema", `{"apiVersion":"clickhouse-keeper.altinity.com/v1","kind":"ClickHouseKeeperInstallation","metadata":{"name":"x"},"spec":{"configuration":{"clusters":[{"name":"k","layout":{"replicas":3}}]}}}`,
			func() any { return &clickHouseKeeperInstallation{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := decodeStrict([]byte(tc.doc), tc.into()); err == nil {
				t.Fatalf("decoded without error: %s", tc.doc)
			}
		})
	}
}

// workload is a pod template and what owns it.
type workload struct {
	kind, name string
	pod        corev1.PodTemplateSpec
}

func (w workload) String() string { return w.kind + "/" + w.name }

func (m *manifests) workloads() []workload {
	var out []workload
	for _, d := range m.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Template})
	}
	for _, c := range m.cronJobs {
		out = append(out, workload{"CronJob", c.Name, c.Spec.JobTemplate.Spec.Template})
	}
	for _, j := range m.jobs {
		out = append(out, workload{"Job", j.Name, j.Spec.Template})
	}
	return out
}

func allContainers(p corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container(nil), p.InitContainers...), p.Containers...)
}

// TestPodTemplatesMeetTheRestrictedPodSecurityProfile checks every pod template, including the
// ClickHouse pod template: non-root, seccomp RuntimeDefault, no privilege escalation, every
// capability dropped, no host namespaces or host paths, no service-account token; the hashatlas
// containers also run on a read-only root filesystem with /tmp on an emptyDir, and every
// container states CPU and memory requests and a memory limit (prod: a CPU limit too).
func TestPodTemplatesMeetTheRestrictedPodSecurityProfile(t *testing.T) {
	for _, m := range decoded(t) {
		type pod struct {
			owner     string
			spec      corev1.PodSpec
			hashatlas bool
		}
		var pods []pod
		for _, w := range m.workloads() {
			pods = append(pods, pod{m.dir + " " + w.String(), w.pod.Spec, true})
		}
		for _, chi := range m.clickhouses {
			for _, pt := range chi.Spec.Templates.PodTemplates {
				pods = append(pods, pod{m.dir + " ClickHouseInstallation/" + chi.Name + " podTemplate " + pt.Name, pt.Spec, false})
			}
		}
		for _, chk := range m.keepers {
			for _, pt := range chk.Spec.Templates.PodTemplates {
				pods = append(pods, pod{m.dir + " ClickHouseKeeperInstallation/" + chk.Name + " podTemplate " + pt.Name, pt.Spec, false})
			}
		}
		for _, p := range pods {
			sc := p.spec.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s: no pod securityContext", p.owner)
				continue
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				t.Errorf("%s: runAsNonRoot is not true", p.owner)
			case sc.RunAsUser == nil || *sc.RunAsUser == 0:
				t.Errorf("%s: runAsUser is not a non-zero UID", p.owner)
			case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
				t.Errorf("%s: seccompProfile is not RuntimeDefault", p.owner)
			}
			if p.spec.HostNetwork || p.spec.HostPID || p.spec.HostIPC {
				t.Errorf("%s: uses a host namespace", p.owner)
			}
			tmpVolume := map[string]bool{}
			for _, v := range p.spec.Volumes {
				if v.HostPath != nil {
					t.Errorf("%s: volume %s is a hostPath", p.owner, v.Name)
				}
				if v.EmptyDir != nil {
					tmpVolume[v.Name] = true
				}
			}
			if p.hashatlas && (p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken) {
				t.Errorf("%s: mounts a service-account token; hashatlas never calls the Kubernetes API", p.owner)
			}
			for _, c := range allContainers(p.spec) {
				where := p.owner + " container " + c.Name
				cs := c.SecurityContext
				if cs == nil {
					t.Errorf("%s: no securityContext", where)
					continue
				}
				if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
					t.Errorf("%s: allowPrivilegeEscalation is not false", where)
				}
				if cs.Privileged != nil && *cs.Privileged {
					t.Errorf("%s: privileged", where)
				}
				if cs.Capabilities == nil || len(cs.Capabilities.Add) > 0 || !contains(capNames(cs.Capabilities.Drop), "ALL") {
					t.Errorf("%s: capabilities are not drop [ALL] with none added", where)
				}
				if cs.RunAsUser != nil && *cs.RunAsUser == 0 {
					t.Errorf("%s: runs as UID 0", where)
				}
				if p.hashatlas {
					if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
						t.Errorf("%s: readOnlyRootFilesystem is not true", where)
					}
					tmp := false
					for _, vm := range c.VolumeMounts {
						if vm.MountPath == "/tmp" && tmpVolume[vm.Name] {
							tmp = true
						}
					}
					if !tmp {
						t.Errorf("%s: /tmp is not an emptyDir mount", where)
					}
				}
				r := c.Resources
				if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
					t.Errorf("%s: resources %v: want CPU and memory requests and a memory limit", where, r)
				}
				if strings.HasSuffix(m.dir, "prod") && r.Limits.Cpu().IsZero() {
					t.Errorf("%s: prod has no CPU limit", where)
				}
				if !r.Limits.Memory().IsZero() && r.Requests.Memory().Cmp(*r.Limits.Memory()) > 0 {
					t.Errorf("%s: memory request above its limit", where)
				}
			}
		}
	}
}

func capNames(cs []corev1.Capability) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scheduleInterval is the shortest time between two runs of a cron schedule (in UTC, the
// CronJobs' time zone), over eight days.
func scheduleInterval(t *testing.T, spec string) time.Duration {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatalf("schedule %q: %v", spec, err)
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	prev := s.Next(start)
	shortest := time.Duration(1 << 62)
	for prev.Before(start.Add(8 * 24 * time.Hour)) {
		next := s.Next(prev)
		shortest = min(shortest, next.Sub(prev))
		prev = next
	}
	return shortest
}

// setting is one line of --check-config output: a flag's effective value and its origin.
type setting struct{ value, source string }

// containerRun is a container's command line and environment, as Kubernetes would start it.
type containerRun struct {
	owner, container string
	args             []string
	env              map[string]string // every variable the container gets
	fromManifests    []string          // variables set by env: or envFrom:
	secrets          map[string]string // variable -> placeholder of a secretKeyRef
	config           map[string]setting
}

// secretPlaceholders stand in for the keys of the Secrets the manifests reference (the operator
// creates those Secrets; deploy/k8s/README.md lists their keys). Each has the shape its flag
// accepts (an EIA key is 40 alphanumeric characters).
var secretPlaceholders = map[string]string{
	"hashatlas-sources/eia-api-key":       strings.Repeat("e1", 20),
	"hashatlas-sources/braiins-token":     "placeholder-braiins-token",
	"hashatlas-sources/bitcoind-user":     "placeholder-rpc-user",
	"hashatlas-sources/bitcoind-password": "placeholder-rpc-password",
	"hashatlas-clickhouse/password":       "placeholder-clickhouse-password",
}

// runOf resolves a container's environment from the build (envFrom ConfigMaps, env values,
// configMapKeyRef, secretKeyRef placeholders).
func runOf(t *testing.T, m *manifests, owner string, c corev1.Container) containerRun {
	t.Helper()
	r := containerRun{owner: owner, container: c.Name, args: append(append([]string(nil), c.Command...), c.Args...), env: map[string]string{}, secrets: map[string]string{}}
	if len(c.Command) > 0 {
		t.Errorf("%s container %s: command %v replaces the image's ENTRYPOINT (/hashatlas); give args only", owner, c.Name, c.Command)
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s container %s: envFrom other than a ConfigMap", owner, c.Name)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s container %s: envFrom ConfigMap %s is not in the build", owner, c.Name, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			r.env[k] = v
			r.fromManifests = append(r.fromManifests, k)
		}
	}
	for _, e := range c.Env {
		r.fromManifests = append(r.fromManifests, e.Name)
		switch {
		case e.ValueFrom == nil:
			r.env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			p, ok := secretPlaceholders[ref]
			if !ok {
				t.Errorf("%s container %s: %s comes from Secret key %s, which is not among the documented keys %v", owner, c.Name, e.Name, ref, sortedKeys(secretPlaceholders))
			}
			r.env[e.Name] = p
			r.secrets[e.Name] = p
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm, ok := m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]
			if !ok {
				t.Errorf("%s container %s: %s from ConfigMap %s, not in the build", owner, c.Name, e.Name, e.ValueFrom.ConfigMapKeyRef.Name)
				continue
			}
			r.env[e.Name] = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
		default:
			t.Errorf("%s container %s: %s has a valueFrom the tests do not resolve", owner, c.Name, e.Name)
		}
	}
	return r
}

// checkConfig runs `hashatlas ARGS --check-config` with exactly the container's environment,
// and returns the effective configuration it prints.
func checkConfig(t *testing.T, r *containerRun) {
	t.Helper()
	cmd := exec.Command(binary, append(append([]string(nil), r.args...), "--check-config")...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"HOME=" + cmd.Dir, "TMPDIR=" + cmd.Dir}
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("%s container %s: hashatlas %s --check-config: %v: %s", r.owner, r.container, strings.Join(r.args, " "), err, strings.TrimSpace(stderr.String()))
		return
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "# hashatlas ") || !strings.Contains(out, "configuration is valid") {
		t.Errorf("%s container %s: --check-config printed %q", r.owner, r.container, out)
		return
	}
	for name, p := range r.secrets {
		if strings.Contains(out, p) && (strings.Contains(name, "PASSWORD") || strings.Contains(name, "TOKEN") || strings.Contains(name, "KEY")) {
			t.Errorf("%s container %s: --check-config printed the value of %s", r.owner, r.container, name)
		}
	}
	r.config = map[string]setting{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		kv, src, ok := strings.Cut(line, "\t# ")
		name, value, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Errorf("%s: unparseable --check-config line %q", r.owner, line)
			continue
		}
		r.config[name] = setting{value, src}
	}
}

// runs resolves and checks every container of a build, once per build.
var runsCache = map[string][]*containerRun{}

func runs(t *testing.T, m *manifests) []*containerRun {
	t.Helper()
	if rs, ok := runsCache[m.dir]; ok {
		return rs
	}
	var out []*containerRun
	for _, w := range m.workloads() {
		for _, c := range allContainers(w.pod.Spec) {
			r := runOf(t, m, m.dir+" "+w.String(), c)
			checkConfig(t, &r)
			out = append(out, &r)
		}
	}
	runsCache[m.dir] = out
	return out
}

// TestEveryContainerCommandIsAcceptedByTheBinary runs each container's args with
// --check-config through the real binary (plain build), with the environment the manifests
// give it (the ConfigMap, env values, and placeholders for Secret keys): it must exit 0. Every
// variable a container is given must be read by a flag of its command (a misspelt variable
// would be ignored silently), and every ConfigMap key by some container.
func TestEveryContainerCommandIsAcceptedByTheBinary(t *testing.T) {
	for _, m := range decoded(t) {
		read := map[string]bool{}
		for _, r := range runs(t, m) {
			if r.config == nil {
				continue // its failure is reported
			}
			used := map[string]bool{}
			for _, s := range r.config {
				if v, ok := strings.CutPrefix(s.source, "env "); ok {
					used[v] = true
					read[v] = true
				}
			}
			for _, v := range r.fromManifests {
				if !used[v] && !isConfigMapKey(m, v) {
					t.Errorf("%s container %s: sets %s, which no flag of `hashatlas %s` reads", r.owner, r.container, v, r.args[0])
				}
			}
			if v := r.config["log.format"].value; v != "json" {
				t.Errorf("%s container %s: log format %q, want json in Kubernetes", r.owner, r.container, v)
			}
		}
		for name, cm := range m.configMaps {
			for k := range cm.Data {
				if !read[k] {
					t.Errorf("%s: ConfigMap %s key %s is read by no container's command", m.dir, name, k)
				}
			}
		}
	}
}

func isConfigMapKey(m *manifests, k string) bool {
	for _, cm := range m.configMaps {
		if _, ok := cm.Data[k]; ok {
			return true
		}
	}
	return false
}

// collectSources asks the binary for its collect sources: `hashatlas collect` without one
// exits 2 listing them.
func collectSources(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(binary, "collect").CombinedOutput()
	if err == nil {
		t.Fatal("hashatlas collect without a source exited 0")
	}
	_, list, ok := strings.Cut(strings.TrimSpace(string(out)), "SOURCE one of ")
	if !ok {
		t.Fatalf("hashatlas collect printed %q, want the list of sources (\"SOURCE one of …\")", out)
	}
	return strings.Split(list, ", ")
}

// notScheduled are collect sources without a CronJob, and why.
var notScheduled = map[string]string{
	"file": "replays a fixed history file once (a backfill), not a source that grows",
}

// TestOneCronJobPerCollectorWithTheRunPolicy: every collect source of the binary (but the file
// replay) has a CronJob running `collect SOURCE --once`, with concurrencyPolicy Forbid, a
// starting deadline and an active deadline below the schedule interval, the pass timeout below
// the active deadline (so the pass fails, and pushes that, before the Job is killed), a small
// backoffLimit, ttlSecondsAfterFinished, restartPolicy Never and the UTC time zone.
func TestOneCronJobPerCollectorWithTheRunPolicy(t *testing.T) {
	sources := collectSources(t)
	for _, m := range decoded(t) {
		byRun := map[string]*containerRun{}
		for _, r := range runs(t, m) {
			byRun[r.owner+"/"+r.container] = r
		}
		have := map[string]string{}
		for _, cj := range m.cronJobs {
			where := m.dir + " CronJob/" + cj.Name
			s := cj.Spec
			interval := scheduleInterval(t, s.Schedule)
			js := s.JobTemplate.Spec
			pod := js.Template.Spec
			switch {
			case s.ConcurrencyPolicy != batchv1.ForbidConcurrent:
				t.Errorf("%s: concurrencyPolicy %q, want Forbid", where, s.ConcurrencyPolicy)
			case s.TimeZone == nil || *s.TimeZone != "Etc/UTC":
				t.Errorf("%s: timeZone is not Etc/UTC", where)
			case s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds < 10 || time.Duration(*s.StartingDeadlineSeconds)*time.Second >= interval:
				t.Errorf("%s: startingDeadlineSeconds %s, want 10 s or more and below the interval %v", where, deref(s.StartingDeadlineSeconds), interval)
			case js.ActiveDeadlineSeconds == nil || time.Duration(*js.ActiveDeadlineSeconds)*time.Second >= interval:
				t.Errorf("%s: activeDeadlineSeconds %s, want it below the interval %v", where, deref(js.ActiveDeadlineSeconds), interval)
			case js.BackoffLimit == nil || *js.BackoffLimit > 2:
				t.Errorf("%s: backoffLimit %s, want at most 2 (the next run is the retry)", where, deref(js.BackoffLimit))
			case js.TTLSecondsAfterFinished == nil || *js.TTLSecondsAfterFinished <= 0:
				t.Errorf("%s: no ttlSecondsAfterFinished", where)
			case pod.RestartPolicy != corev1.RestartPolicyNever:
				t.Errorf("%s: restartPolicy %q, want Never", where, pod.RestartPolicy)
			case len(pod.Containers) != 1 || len(pod.InitContainers) != 0:
				t.Errorf("%s: %d containers, want one", where, len(pod.Containers))
				continue
			}
			args := pod.Containers[0].Args
			if len(args) < 3 || args[0] != "collect" || !contains(args, "--once") || contains(args, "--schedule") {
				t.Errorf("%s: args %v, want collect SOURCE --once", where, args)
				continue
			}
			if prev, dup := have[args[1]]; dup {
				t.Errorf("%s: a second CronJob for %s (first: %s)", where, args[1], prev)
			}
			have[args[1]] = cj.Name
			r := byRun[m.dir+" CronJob/"+cj.Name+"/"+pod.Containers[0].Name]
			if r == nil || r.config == nil {
				continue
			}
			pass, err := time.ParseDuration(r.config["pass-timeout"].value)
			if err != nil {
				t.Errorf("%s: pass-timeout %q: %v", where, r.config["pass-timeout"].value, err)
			} else if js.ActiveDeadlineSeconds != nil && pass+30*time.Second > time.Duration(*js.ActiveDeadlineSeconds)*time.Second {
				t.Errorf("%s: --pass-timeout %v leaves less than 30 s before activeDeadlineSeconds %d to record and push the outcome", where, pass, *js.ActiveDeadlineSeconds)
			}
			if r.config["metrics.pushgateway"].value == "" {
				t.Errorf("%s: no --metrics.pushgateway: the run's outcome would not reach Prometheus", where)
			}
		}
		for _, src := range sources {
			if _, ok := have[src]; !ok && notScheduled[src] == "" {
				t.Errorf("%s: collect source %s has no CronJob", m.dir, src)
			}
		}
		for src := range have {
			if !contains(sources, src) {
				t.Errorf("%s: a CronJob collects %s, which the binary does not know", m.dir, src)
			}
		}
	}
}

// TestEstimatorDeploymentProbesAndBudget: the estimator serves its probes on the metrics port it
// listens on (liveness /healthz, readiness /readyz), has no init container (migrations are the
// Job's: TestMigrationsRunFromTheJobOnly), is replaced with Recreate (one consumer of its group
// at a time), has a grace period longer than the Kafka write retry budget, and a
// PodDisruptionBudget; its Service and ServiceMonitor select it and name its metrics port.
func TestEstimatorDeploymentProbesAndBudget(t *testing.T) {
	for _, m := range decoded(t) {
		d := m.deployments[0]
		where := m.dir + " Deployment/" + d.Name
		pod := d.Spec.Template.Spec
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: replicas %s strategy %q, want 1 and Recreate", where, deref(d.Spec.Replicas), d.Spec.Strategy.Type)
		}
		if len(pod.InitContainers) != 0 {
			t.Errorf("%s: init containers %v, want none", where, pod.InitContainers)
		}
		if len(pod.Containers) != 1 || len(pod.Containers[0].Args) == 0 || pod.Containers[0].Args[0] != "estimate" {
			t.Fatalf("%s: containers %v, want one running estimate", where, pod.Containers)
		}
		c := pod.Containers[0]
		var r *containerRun
		for _, x := range runs(t, m) {
			if x.owner == m.dir+" Deployment/"+d.Name && x.container == c.Name {
				r = x
			}
		}
		if r == nil || r.config == nil {
			t.Fatalf("%s: the estimator's --check-config failed", where)
		}
		_, port, err := net.SplitHostPort(r.config["metrics.listen"].value)
		if err != nil {
			t.Fatalf("%s: metrics.listen %q: %v", where, r.config["metrics.listen"].value, err)
		}
		metricsPort := -1
		for _, p := range c.Ports {
			if p.Name == "metrics" {
				metricsPort = int(p.ContainerPort)
			}
		}
		if strconv.Itoa(metricsPort) != port {
			t.Errorf("%s: container port metrics is %d, the estimator listens on %s", where, metricsPort, port)
		}
		for _, p := range []struct {
			probe *corev1.Probe
			path  string
		}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
				t.Errorf("%s: want an HTTP probe of %s on port metrics, have %+v", where, p.path, p.probe)
			}
		}
		grace := time.Duration(0)
		if pod.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		}
		// On SIGTERM the estimator ends within its shutdown budget (--shutdown.timeout: its last
		// flush and commit, closing, and at worst the exit at the budget's end); the grace period
		// must exceed it by a margin, or the kubelet kills it before it has committed.
		s, ok := r.config["shutdown.timeout"]
		if !ok {
			t.Fatalf("%s: the estimator's configuration has no shutdown.timeout", where)
		}
		budget, err := time.ParseDuration(s.value)
		if err != nil {
			t.Fatalf("%s: shutdown.timeout %q: %v", where, s.value, err)
		}
		const margin = 15 * time.Second
		if grace < budget+margin {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want at least the shutdown budget %v and %v more", where, grace, budget, margin)
		}

		podLabels := labels.Set(d.Spec.Template.Labels)
		if len(m.pdbs) != 1 || !selects(t, m.pdbs[0].Spec.Selector, podLabels) {
			t.Errorf("%s: no PodDisruptionBudget selects the estimator", where)
		}
		var svc *corev1.Service
		for _, s := range m.services {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
				svc = s
			}
		}
		if svc == nil {
			t.Fatalf("%s: no Service selects the estimator", where)
		}
		svcPorts := map[string]bool{}
		for _, p := range svc.Spec.Ports {
			svcPorts[p.Name] = true
			if p.TargetPort.String() != "metrics" && p.TargetPort.IntValue() != metricsPort {
				t.Errorf("%s: Service port %s targets %s, not the metrics port", where, p.Name, p.TargetPort.String())
			}
		}
		sm := m.monitors[0]
		if !selects(t, &sm.Spec.Selector, labels.Set(svc.Labels)) {
			t.Errorf("%s: ServiceMonitor %s does not select Service %s", m.dir, sm.Name, svc.Name)
		}
		for _, e := range sm.Spec.Endpoints {
			if !svcPorts[e.Port] || e.Path != "/metrics" {
				t.Errorf("%s: ServiceMonitor endpoint port %q path %q: want a port of Service %s and /metrics", m.dir, e.Port, e.Path, svc.Name)
			}
		}
	}
}

func selects(t *testing.T, s *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Errorf("selector %v: %v", s, err)
		return false
	}
	return !sel.Empty() && sel.Matches(set)
}

// TestKafkaTopicsMatchTheTopicsTheCodeCreates: the KafkaTopics are exactly schemas.Topics()
// (no topic of the code missing, none extra), each with its partitions and with exactly the
// configs sinks/kafka creates it with for the KafkaTopic's replica count (cleanup policy,
// retention, min.insync.replicas), and with as many replicas as the replication factor the
// binary is configured with, so topics it creates itself agree with them.
func TestKafkaTopicsMatchTheTopicsTheCodeCreates(t *testing.T) {
	for _, m := range decoded(t) {
		var rf string
		for _, r := range runs(t, m) {
			if s, ok := r.config["kafka.replication-factor"]; ok {
				if rf != "" && rf != s.value {
					t.Errorf("%s: containers disagree on kafka.replication-factor: %s and %s", m.dir, rf, s.value)
				}
				rf = s.value
			}
		}
		var brokerHost string
		for _, r := range runs(t, m) {
			if s, ok := r.config["kafka.brokers"]; ok {
				brokerHost, _, _ = net.SplitHostPort(strings.Split(s.value, ",")[0])
			}
		}
		got := map[string]*kafkaTopic{}
		for _, kt := range m.topics {
			if kt.Spec.TopicName == "" {
				t.Errorf("%s: KafkaTopic %s has no spec.topicName", m.dir, kt.Name)
			}
			got[kt.Spec.TopicName] = kt
		}
		for _, spec := range schemas.Topics() {
			kt, ok := got[spec.Name]
			if !ok {
				t.Errorf("%s: topic %s of schemas.Topics() has no KafkaTopic", m.dir, spec.Name)
				continue
			}
			delete(got, spec.Name)
			where := m.dir + " KafkaTopic/" + kt.Name
			if kt.Spec.Partitions != spec.Partitions {
				t.Errorf("%s: %d partitions, the code declares %d", where, kt.Spec.Partitions, spec.Partitions)
			}
			if strconv.Itoa(kt.Spec.Replicas) != rf {
				t.Errorf("%s: %d replicas, the binary is configured with replication factor %s", where, kt.Spec.Replicas, rf)
			}
			cluster := kt.Labels["strimzi.io/cluster"]
			if cluster == "" || brokerHost != cluster+"-kafka-bootstrap" {
				t.Errorf("%s: strimzi.io/cluster %q, but the binary connects to %q (Strimzi names the bootstrap service CLUSTER-kafka-bootstrap)", where, cluster, brokerHost)
			}
			have := map[string]string{}
			for k, v := range kt.Spec.Config {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v) // a number, as written
				}
				have[k] = s
			}
			want := kafka.TopicConfigs(spec, kt.Spec.Replicas)
			if fmt.Sprint(have) != fmt.Sprint(want) {
				t.Errorf("%s: config %v, the code creates it with %v", where, have, want)
			}
		}
		for name := range got {
			t.Errorf("%s: KafkaTopic for %s, which is not in schemas.Topics()", m.dir, name)
		}
	}
}

// TestClickHouseInstallationServesTheConfiguredDatabase: the ClickHouseInstallation's default
// templates exist, it has a cluster with at least one shard and replica, the user the binary
// logs in as is defined with its password from the Secret the binary reads, and the addresses
// the binary is given are every replica of the cluster, in order, each by the Service the
// operator makes for it (chi-NAME-CLUSTER-SHARD-REPLICA) on the native port: the client tries
// them in order, so it works on the first replica while that is up (reads see the writes
// before them) and on the next when it is not.
func TestClickHouseInstallationServesTheConfiguredDatabase(t *testing.T) {
	for _, m := range decoded(t) {
		chi := m.clickhouses[0]
		where := m.dir + " ClickHouseInstallation/" + chi.Name
		pts, vcts := map[string]bool{}, map[string]bool{}
		for _, p := range chi.Spec.Templates.PodTemplates {
			pts[p.Name] = true
		}
		for _, v := range chi.Spec.Templates.VolumeClaimTemplates {
			vcts[v.Name] = true
			if v.Spec.Resources.Requests.Storage().IsZero() {
				t.Errorf("%s: volume claim template %s requests no storage", where, v.Name)
			}
		}
		if d := chi.Spec.Defaults.Templates; !pts[d.PodTemplate] || !vcts[d.DataVolumeClaimTemplate] {
			t.Errorf("%s: default templates %+v are not defined", where, d)
		}
		if len(chi.Spec.Configuration.Clusters) == 0 {
			t.Errorf("%s: no cluster", where)
		}
		for _, c := range chi.Spec.Configuration.Clusters {
			if c.Name == "" || c.Layout.ShardsCount < 1 || c.Layout.ReplicasCount < 1 {
				t.Errorf("%s: cluster %+v: want a name, shards and replicas", where, c)
			}
		}
		var replicas []string
		if len(chi.Spec.Configuration.Clusters) > 0 {
			c := chi.Spec.Configuration.Clusters[0]
			for i := 0; i < c.Layout.ReplicasCount; i++ {
				replicas = append(replicas, fmt.Sprintf("chi-%s-%s-0-%d:9000", chi.Name, c.Name, i))
			}
		}
		for _, r := range runs(t, m) {
			s, ok := r.config["clickhouse.addr"]
			if !ok || r.config == nil {
				continue
			}
			if want := strings.Join(replicas, ","); strings.ReplaceAll(s.value, " ", "") != want {
				t.Errorf("%s container %s: clickhouse.addr %s, want every replica's Service in order, %s", r.owner, r.container, s.value, want)
			}
			user := r.config["clickhouse.username"].value
			raw, ok := chi.Spec.Configuration.Users[user+"/password"]
			if !ok {
				t.Errorf("%s: user %s (clickhouse.username of %s) has no password entry", where, user, r.owner)
				continue
			}
			var ref struct {
				ValueFrom struct {
					SecretKeyRef corev1.SecretKeySelector `json:"secretKeyRef"`
				} `json:"valueFrom"`
			}
			if err := decodeStrict(raw, &ref); err != nil {
				t.Errorf("%s: %s/password: want a valueFrom.secretKeyRef, never a value: %v", where, user, err)
				continue
			}
			k := ref.ValueFrom.SecretKeyRef.Name + "/" + ref.ValueFrom.SecretKeyRef.Key
			if secretPlaceholders[k] == "" || r.secrets["HASHATLAS_CLICKHOUSE_PASSWORD"] != secretPlaceholders[k] {
				t.Errorf("%s: %s/password comes from %s, but %s reads HASHATLAS_CLICKHOUSE_PASSWORD from elsewhere", where, user, k, r.owner)
			}
		}
	}
}

// TestPrometheusRuleAlertsOnEveryCollectorAndTheEstimator: one staleness alert per CronJob on
// the last-success gauge its runs push, firing after 3 intervals of its schedule; a lag alert
// on the estimator's own lag gauge for its group, with the estimator's own bound; a not-ready
// alert on the estimator's Deployment.
func TestPrometheusRuleAlertsOnEveryCollectorAndTheEstimator(t *testing.T) {
	stale := regexp.MustCompile(`^time\(\) - max by \(collector\) \(hashatlas_collector_last_success_timestamp_seconds\{job="hashatlas-collect", collector="([^"]+)"\}\) > (\d+)$`)
	lag := regexp.MustCompile(`^max by \(namespace, group\) \(hashatlas_estimator_lag_messages\{group="([^"]+)"\}\) > (\d+)$`)
	for _, m := range decoded(t) {
		pr := m.rules[0]
		staleAfter := map[string]time.Duration{}
		var lagRule, readyRule string
		for _, g := range pr.Spec.Groups {
			if g.Name == "" {
				t.Errorf("%s: a rule group without a name", m.dir)
			}
			for _, r := range g.Rules {
				if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
					t.Errorf("%s: rule %+v: want alert, expr and a severity label", m.dir, r)
				}
				if s := stale.FindStringSubmatch(r.Expr); s != nil {
					n, _ := strconv.Atoi(s[2])
					staleAfter[s[1]] = time.Duration(n) * time.Second
				}
				switch r.Alert {
				case "HashatlasEstimatorLagging":
					lagRule = r.Expr
				case "HashatlasEstimatorNotReady":
					readyRule = r.Expr
				}
			}
		}
		for _, cj := range m.cronJobs {
			src := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args[1]
			want := 3 * scheduleInterval(t, cj.Spec.Schedule)
			if got, ok := staleAfter[src]; !ok || got != want {
				t.Errorf("%s: collector %s (CronJob %s): staleness alert after %v, want one after 3 intervals, %v", m.dir, src, cj.Name, got, want)
			}
			delete(staleAfter, src)
		}
		for src := range staleAfter {
			t.Errorf("%s: a staleness alert watches collector %s, which no CronJob runs", m.dir, src)
		}
		var est *containerRun
		for _, r := range runs(t, m) {
			if len(r.args) > 0 && r.args[0] == "estimate" {
				est = r
			}
		}
		if est == nil || est.config == nil {
			t.Fatalf("%s: no estimator configuration", m.dir)
		}
		l := lag.FindStringSubmatch(lagRule)
		if l == nil {
			t.Fatalf("%s: HashatlasEstimatorLagging %q: want a bound on hashatlas_estimator_lag_messages of the estimator's group", m.dir, lagRule)
		}
		if l[1] != est.config["estimate.group"].value || l[2] != est.config["estimate.max-lag"].value {
			t.Errorf("%s: lag alert on group %s above %s; the estimator's group is %s and its bound %s", m.dir, l[1], l[2], est.config["estimate.group"].value, est.config["estimate.max-lag"].value)
		}
		if !strings.Contains(readyRule, `deployment="`+m.deployments[0].Name+`"`) {
			t.Errorf("%s: HashatlasEstimatorNotReady %q does not watch Deployment %s", m.dir, readyRule, m.deployments[0].Name)
		}
	}
}

// TestNetworkPoliciesIsolateThePodsAndAllowWhatTheyAreConfiguredToReach: every hashatlas pod is
// isolated for ingress and egress, and the policies selecting it allow egress to the port of
// every endpoint its configuration names (Kafka brokers, ClickHouse, the Pushgateway, HTTP(S)
// sources) and to DNS; the estimator's metrics port admits ingress.
func TestNetworkPoliciesIsolateThePodsAndAllowWhatTheyAreConfiguredToReach(t *testing.T) {
	for _, m := range decoded(t) {
		byOwner := map[string][]*containerRun{}
		for _, r := range runs(t, m) {
			byOwner[r.owner] = append(byOwner[r.owner], r)
		}
		for _, w := range m.workloads() {
			where := m.dir + " " + w.String()
			podLabels := labels.Set(w.pod.Labels)
			isolatedIn, isolatedOut := false, false
			egress := map[string]bool{} // "TCP/9092"; "any" when a rule allows every port
			ingress := map[string]bool{}
			for _, p := range m.policies {
				if !selectsAll(t, &p.Spec.PodSelector, podLabels) {
					continue
				}
				for _, pt := range p.Spec.PolicyTypes {
					isolatedIn = isolatedIn || pt == networkingv1.PolicyTypeIngress
					isolatedOut = isolatedOut || pt == networkingv1.PolicyTypeEgress
				}
				for _, r := range p.Spec.Egress {
					addPorts(egress, r.Ports)
				}
				for _, r := range p.Spec.Ingress {
					addPorts(ingress, r.Ports)
				}
			}
			if !isolatedIn || !isolatedOut {
				t.Errorf("%s: not isolated (ingress %v, egress %v): a policy must select it for both", where, isolatedIn, isolatedOut)
			}
			need := map[string]string{"UDP/53": "DNS"}
			for _, r := range byOwner[where] {
				for name, s := range r.config {
					for _, ep := range endpoints(name, s.value) {
						need[ep] = r.container + " --" + name + "=" + s.value
					}
				}
			}
			for port, why := range need {
				if !egress[port] && !egress["any"] {
					t.Errorf("%s: egress to %s is not allowed, but %s", where, port, why)
				}
			}
			if w.kind == "Deployment" && !ingress["TCP/metrics"] {
				t.Errorf("%s: ingress to the metrics port is not allowed", where)
			}
		}
	}
}

// selectsAll is selects, except that an empty selector selects every pod (as in a
// NetworkPolicy's podSelector).
func selectsAll(t *testing.T, s *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Errorf("selector %v: %v", s, err)
		return false
	}
	return sel.Matches(set)
}

func addPorts(to map[string]bool, ports []networkingv1.NetworkPolicyPort) {
	if len(ports) == 0 {
		to["any"] = true
	}
	for _, p := range ports {
		proto := "TCP"
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		if p.Port == nil {
			to["any"] = true
			continue
		}
		to[proto+"/"+p.Port.String()] = true
	}
}

// endpoints are the TCP ports a flag's value makes the process connect to: brokers and server
// addresses (host:port lists) and http(s) URLs.
func endpoints(flag, value string) []string {
	var out []string
	switch {
	case value == "":
	case flag == "kafka.brokers" || flag == "clickhouse.addr":
		for _, a := range strings.Split(value, ",") {
			if _, port, err := net.SplitHostPort(strings.TrimSpace(a)); err == nil {
				out = append(out, "TCP/"+port)
			}
		}
	case strings.HasPrefix(value, "http://") || strings.HasPrefix(value, "https://"):
		u, err := url.Parse(strings.Replace(value, "***@", "user@", 1))
		if err != nil {
			return nil
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		out = append(out, "TCP/"+port)
	}
	return out
}

// deref prints an optional number, or "unset".
func deref[N int32 | int64](p *N) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(int64(*p), 10)
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// migratesOnStart are the commands that apply the ClickHouse migrations themselves when they
// open ClickHouse, besides migrate: estimate, run, replay and demo through openEstimator
// (cmd/hashatlas/cmd_estimate.go), simulate in setupSimulate (cmd_simulate.go).
var migratesOnStart = map[string]bool{"estimate": true, "run": true, "replay": true, "demo": true, "simulate": true}

// migrationSwitch finds the setting that turns a command's own migrations off in its effective
// configuration: one named migrate or ending in .migrate. name is empty when the command has
// none.
func migrationSwitch(config map[string]setting) (name string, off bool) {
	for n, s := range config {
		if n == "migrate" || strings.HasSuffix(n, ".migrate") {
			return n, s.value == "false"
		}
	}
	return "", false
}

// TestMigrationsRunFromTheJobOnly: exactly one container runs `migrate`, the Job
// hashatlas-migrate's (one container, backoffLimit, activeDeadlineSeconds,
// ttlSecondsAfterFinished, restartPolicy Never): no init container, CronJob or second Job
// migrates beside it.
func TestMigrationsRunFromTheJobOnly(t *testing.T) {
	for _, m := range decoded(t) {
		var migrators []string
		for _, r := range runs(t, m) {
			if len(r.args) > 0 && r.args[0] == "migrate" {
				migrators = append(migrators, r.owner+" container "+r.container)
			}
		}
		want := m.dir + " Job/hashatlas-migrate container migrate"
		if len(migrators) != 1 || migrators[0] != want {
			t.Errorf("%s: containers running migrate %v, want exactly one, %s", m.dir, migrators, want)
		}
		for _, job := range m.jobs {
			if job.Name != "hashatlas-migrate" {
				continue
			}
			if a := job.Spec.Template.Spec.Containers; len(a) != 1 || len(a[0].Args) != 1 || a[0].Args[0] != "migrate" || len(job.Spec.Template.Spec.InitContainers) != 0 {
				t.Errorf("%s Job/%s: containers %v, want one running migrate", m.dir, job.Name, a)
			}
			if job.Spec.BackoffLimit == nil || job.Spec.ActiveDeadlineSeconds == nil || job.Spec.TTLSecondsAfterFinished == nil ||
				job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("%s Job/%s: want backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished and restartPolicy Never", m.dir, job.Name)
			}
		}
	}
}

// TestNoOtherContainerMigratesOnStart: a container running a command that applies the
// migrations itself when it starts (migratesOnStart: the estimator) turns that off with the
// command's switch (a flag named migrate or *.migrate: --estimate.migrate), so the Job stays
// the one migrator; a command without such a switch is an error too.
func TestNoOtherContainerMigratesOnStart(t *testing.T) {
	var noSwitch []string
	for _, m := range decoded(t) {
		for _, r := range runs(t, m) {
			if len(r.args) == 0 || !migratesOnStart[r.args[0]] || r.config == nil {
				continue
			}
			where := r.owner + " container " + r.container
			switch name, off := migrationSwitch(r.config); {
			case name == "":
				noSwitch = append(noSwitch, where+" (hashatlas "+r.args[0]+")")
			case !off:
				t.Errorf("%s: `hashatlas %s` applies the migrations itself when it starts (--%s=%s, %s): a second migrator beside the Job; set --%s=false",
					where, r.args[0], name, r.config[name].value, r.config[name].source, name)
			}
		}
	}
	if len(noSwitch) > 0 {
		t.Errorf("these containers apply the ClickHouse migrations themselves when they start, and their command has no flag to turn that off: %s",
			strings.Join(noSwitch, "; "))
	}
}

// The replicated ClickHouse: the installation, its Keeper and the cluster mode of its clients.

// keeperClientPort and keeperRaftPort are the ports of a ClickHouseKeeperInstallation's nodes:
// its settings', or the operator's defaults (2181 and 9444).
func keeperClientPort(chk *clickHouseKeeperInstallation) string {
	if p := chk.Spec.Configuration.Settings["keeper_server/tcp_port"]; p != "" {
		return p
	}
	return "2181"
}

func keeperRaftPort(chk *clickHouseKeeperInstallation) string {
	if p := chk.Spec.Configuration.Settings["keeper_server/raft_configuration/server/port"]; p != "" {
		return p
	}
	return "9444"
}

// TestClickHouseIsReplicatedWithAKeeper: the ClickHouseInstallation is one cluster of one shard
// (no hashatlas table is Distributed) and at least two replicas; its zookeeper nodes are the
// Service the operator makes of the build's ClickHouseKeeperInstallation (keeper-NAME) on that
// Keeper's client port; the Keeper has an odd number of nodes (a Raft quorum; at least 3 in
// prod), its default templates exist, and each pod template names the container the operator
// fills in (otherwise the template's container would be a second one beside the operator's).
func TestClickHouseIsReplicatedWithAKeeper(t *testing.T) {
	for _, m := range decoded(t) {
		if len(m.clickhouses) != 1 || len(m.keepers) != 1 {
			t.Errorf("%s: %d ClickHouseInstallations and %d ClickHouseKeeperInstallations, want one each", m.dir, len(m.clickhouses), len(m.keepers))
			continue
		}
		chi, chk := m.clickhouses[0], m.keepers[0]
		where := m.dir + " ClickHouseInstallation/" + chi.Name
		cases := []struct {
			what string
			ok   bool
		}{
			{"one cluster", len(chi.Spec.Configuration.Clusters) == 1},
			{"one shard", len(chi.Spec.Configuration.Clusters) == 1 && chi.Spec.Configuration.Clusters[0].Layout.ShardsCount == 1},
			{"two replicas or more", len(chi.Spec.Configuration.Clusters) == 1 && chi.Spec.Configuration.Clusters[0].Layout.ReplicasCount >= 2},
			{"a Keeper", len(chi.Spec.Configuration.Zookeeper.Nodes) > 0},
		}
		for _, c := range cases {
			if !c.ok {
				t.Errorf("%s: want %s, have clusters %+v and zookeeper %+v", where, c.what, chi.Spec.Configuration.Clusters, chi.Spec.Configuration.Zookeeper)
			}
		}
		for _, n := range chi.Spec.Configuration.Zookeeper.Nodes {
			if n.Host != "keeper-"+chk.Name || strconv.Itoa(n.Port) != keeperClientPort(chk) {
				t.Errorf("%s: zookeeper node %s:%d, want the Service of ClickHouseKeeperInstallation/%s, keeper-%s:%s", where, n.Host, n.Port, chk.Name, chk.Name, keeperClientPort(chk))
			}
		}
		kwhere := m.dir + " ClickHouseKeeperInstallation/" + chk.Name
		if len(chk.Spec.Configuration.Clusters) != 1 {
			t.Errorf("%s: %d clusters, want one", kwhere, len(chk.Spec.Configuration.Clusters))
		} else {
			n := chk.Spec.Configuration.Clusters[0].Layout.ReplicasCount
			if n < 1 || n%2 == 0 || (strings.HasSuffix(m.dir, "prod") && n < 3) {
				t.Errorf("%s: %d nodes, want an odd number (a quorum survives a minority), 3 or more in prod", kwhere, n)
			}
		}
		type templates struct {
			where, container string
			defaults         altinityDefaults
			templates        altinityTemplates
		}
		for _, x := range []templates{{where, "clickhouse", chi.Spec.Defaults, chi.Spec.Templates}, {kwhere, "clickhouse-keeper", chk.Spec.Defaults, chk.Spec.Templates}} {
			pts, vcts := map[string]bool{}, map[string]bool{}
			for _, p := range x.templates.PodTemplates {
				pts[p.Name] = true
				if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Name != x.container {
					t.Errorf("%s: pod template %s: want one container named %s, the operator's", x.where, p.Name, x.container)
				}
			}
			for _, v := range x.templates.VolumeClaimTemplates {
				vcts[v.Name] = true
				if v.Spec.Resources.Requests.Storage().IsZero() {
					t.Errorf("%s: volume claim template %s requests no storage", x.where, v.Name)
				}
			}
			if d := x.defaults.Templates; !pts[d.PodTemplate] || !vcts[d.DataVolumeClaimTemplate] {
				t.Errorf("%s: default templates %+v are not defined", x.where, d)
			}
		}
	}
}

// clickhouseClients are the containers whose configuration connects to a ClickHouse server.
func clickhouseClients(t *testing.T, m *manifests) []*containerRun {
	t.Helper()
	var out []*containerRun
	for _, r := range runs(t, m) {
		if _, ok := r.config["clickhouse.addr"]; ok && r.config["clickhouse.embedded-dir"].value == "" {
			out = append(out, r)
		}
	}
	return out
}

// TestEveryClickHouseClientRunsInClusterMode: every container that connects to ClickHouse (its
// --check-config shows --clickhouse.addr) runs with --clickhouse.cluster set to the
// ClickHouseInstallation's cluster: a client without it would create plain MergeTree tables on
// whichever replica the Service picked. The estimator and the migrations Job are among them;
// the collectors write to Kafka only.
func TestEveryClickHouseClientRunsInClusterMode(t *testing.T) {
	for _, m := range decoded(t) {
		chi := m.clickhouses[0]
		if len(chi.Spec.Configuration.Clusters) == 0 {
			t.Fatalf("%s: ClickHouseInstallation/%s has no cluster", m.dir, chi.Name)
		}
		cluster := chi.Spec.Configuration.Clusters[0].Name
		kinds := map[string]bool{}
		for _, r := range clickhouseClients(t, m) {
			kinds[strings.Fields(strings.TrimPrefix(r.owner, m.dir+" "))[0]] = true
			s, ok := r.config["clickhouse.cluster"]
			switch {
			case !ok:
				t.Errorf("%s container %s: `hashatlas %s` has no --clickhouse.cluster: this binary has no cluster mode", r.owner, r.container, r.args[0])
			case s.value != cluster:
				t.Errorf("%s container %s: --clickhouse.cluster %q (%s), want the ClickHouseInstallation's cluster %q", r.owner, r.container, s.value, s.source, cluster)
			}
		}
		for _, k := range []string{"Deployment/hashatlas-estimator", "Job/hashatlas-migrate"} {
			if !kinds[k] {
				t.Errorf("%s: %s does not connect to ClickHouse (clients: %v)", m.dir, k, sortedKeys(kinds))
			}
		}
	}
}

// A model of NetworkPolicy evaluation, to ask which pods may reach which. The manifests'
// policies live in one namespace (ownNamespace); a subject is a pod of some namespace with its
// labels, or an address outside the cluster (namespace "").
const ownNamespace = "hashatlas-under-test"

type subject struct {
	name      string
	namespace string
	labels    labels.Set
}

func namespaceLabels(ns string) labels.Set {
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

// peerMatches is whether a policy peer (of a policy in ownNamespace) covers the subject. An
// ipBlock covers it when ipBlocks is true: pod addresses are inside the private ranges an
// ipBlock may name, so the question "may it be admitted?" counts them and the question "is it
// surely allowed?" does not.
func peerMatches(t *testing.T, p networkingv1.NetworkPolicyPeer, s subject, ipBlocks bool) bool {
	t.Helper()
	if p.IPBlock != nil {
		return ipBlocks
	}
	if s.namespace == "" {
		return false
	}
	if p.NamespaceSelector == nil {
		if s.namespace != ownNamespace {
			return false
		}
	} else if !selectsAll(t, p.NamespaceSelector, namespaceLabels(s.namespace)) {
		return false
	}
	return p.PodSelector == nil || selectsAll(t, p.PodSelector, s.labels)
}

func hasPolicyType(p *networkingv1.NetworkPolicy, pt networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 { // the API server's default
		return pt == networkingv1.PolicyTypeIngress || (pt == networkingv1.PolicyTypeEgress && len(p.Spec.Egress) > 0)
	}
	for _, x := range p.Spec.PolicyTypes {
		if x == pt {
			return true
		}
	}
	return false
}

// ingressPorts are the ports of a pod of ownNamespace (its labels) the subject may connect to,
// as "TCP/9000", or "any".
func ingressPorts(t *testing.T, m *manifests, pod labels.Set, from subject) map[string]bool {
	return policyPorts(t, m, pod, networkingv1.PolicyTypeIngress, func(p *networkingv1.NetworkPolicy) []policyRule {
		rules := make([]policyRule, len(p.Spec.Ingress))
		for i, r := range p.Spec.Ingress {
			rules[i] = policyRule{r.From, r.Ports}
		}
		return rules
	}, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(t, peer, from, true) })
}

// egressPorts are the ports on the subject a pod of ownNamespace (its labels) may connect to
// (ipBlocks: counting ipBlock peers as covering it) or surely may (not counting them).
func egressPorts(t *testing.T, m *manifests, pod labels.Set, to subject, ipBlocks bool) map[string]bool {
	return policyPorts(t, m, pod, networkingv1.PolicyTypeEgress, func(p *networkingv1.NetworkPolicy) []policyRule {
		rules := make([]policyRule, len(p.Spec.Egress))
		for i, r := range p.Spec.Egress {
			rules[i] = policyRule{r.To, r.Ports}
		}
		return rules
	}, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(t, peer, to, ipBlocks) })
}

// policyRule is an ingress or egress rule: its peers and ports.
type policyRule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

// policyPorts are the ports the policies of type typ that select pod open to the peers match
// accepts (a rule without peers admits everyone), or "any" when none of them selects pod.
func policyPorts(t *testing.T, m *manifests, pod labels.Set, typ networkingv1.PolicyType,
	rules func(*networkingv1.NetworkPolicy) []policyRule, match func(networkingv1.NetworkPolicyPeer) bool) map[string]bool {
	t.Helper()
	ports, isolated := map[string]bool{}, false
	for _, p := range m.policies {
		if !selectsAll(t, &p.Spec.PodSelector, pod) || !hasPolicyType(p, typ) {
			continue
		}
		isolated = true
		for _, r := range rules(p) {
			admitted := len(r.peers) == 0
			for _, peer := range r.peers {
				admitted = admitted || match(peer)
			}
			if admitted {
				addPorts(ports, r.ports)
			}
		}
	}
	if !isolated {
		ports["any"] = true
	}
	return ports
}

// operatorPods are the pods an Altinity operator runs as: its namespace and labels from the
// install bundle (kube-system, app: clickhouse-operator) and from the Helm chart.
var operatorPods = []subject{
	{"the Altinity operator (install bundle)", "kube-system", labels.Set{"app": "clickhouse-operator"}},
	{"the Altinity operator (Helm chart)", "clickhouse-operator", labels.Set{"app.kubernetes.io/name": "altinity-clickhouse-operator", "app.kubernetes.io/instance": "clickhouse-operator"}},
}

// altinityPods are the pods the operator makes of an installation, one per replica, with the
// labels it gives them: its own (GROUP/chi or GROUP/chk, cluster, shard, replica, namespace,
// app: chop, ready), the installation's metadata.labels (the operator copies them onto every
// object it creates) and the pod template's.
func altinityPods(group, kindLabel string, obj metav1.ObjectMeta, cluster string, replicas int, tpl altinityTemplates) []labels.Set {
	var out []labels.Set
	for i := 0; i < max(replicas, 1); i++ {
		l := labels.Set{}
		for k, v := range obj.Labels {
			l[k] = v
		}
		for _, pt := range tpl.PodTemplates {
			for k, v := range pt.Metadata.Labels {
				l[k] = v
			}
		}
		for k, v := range map[string]string{
			group + "/" + kindLabel: obj.Name, group + "/cluster": cluster, group + "/shard": "0",
			group + "/replica": strconv.Itoa(i), group + "/namespace": ownNamespace, group + "/app": "chop", group + "/ready": "yes",
		} {
			l[k] = v
		}
		out = append(out, l)
	}
	return out
}

func clickhousePodLabels(chi *clickHouseInstallation) []labels.Set {
	cluster, replicas := "", 0
	if len(chi.Spec.Configuration.Clusters) > 0 {
		cluster, replicas = chi.Spec.Configuration.Clusters[0].Name, chi.Spec.Configuration.Clusters[0].Layout.ReplicasCount
	}
	return altinityPods("clickhouse.altinity.com", "chi", chi.ObjectMeta, cluster, replicas, chi.Spec.Templates)
}

func keeperPodLabels(chk *clickHouseKeeperInstallation) []labels.Set {
	cluster, replicas := "", 0
	if len(chk.Spec.Configuration.Clusters) > 0 {
		cluster, replicas = chk.Spec.Configuration.Clusters[0].Name, chk.Spec.Configuration.Clusters[0].Layout.ReplicasCount
	}
	return altinityPods("clickhouse-keeper.altinity.com", "chk", chk.ObjectMeta, cluster, replicas, chk.Spec.Templates)
}

func portList(ports map[string]bool) string {
	if len(ports) == 0 {
		return "nothing"
	}
	return strings.Join(sortedKeys(ports), ", ")
}

// TestClickHouseAndKeeperAdmitOnlyTheirClients evaluates the NetworkPolicies for the pods the
// operator makes of the ClickHouseInstallation and the Keeper (with the labels it really gives
// them, the installations' own labels included): on a ClickHouse replica, the containers that
// connect to ClickHouse (the estimator, the migrations Job) may reach the native port of their
// --clickhouse.addr and nothing else, the other replica the native and interserver ports, the
// operator the HTTP port; on a Keeper node, ClickHouse may reach the client port and the other
// nodes the Raft port. Nobody else — collectors, another pod of the namespace, a pod of another
// namespace with the same labels, an address outside the cluster — reaches either. And the
// traffic they need is allowed out of its source: the clients and replicas to ClickHouse,
// ClickHouse to the Keeper, the Keeper nodes to each other, both to DNS.
func TestClickHouseAndKeeperAdmitOnlyTheirClients(t *testing.T) {
	for _, m := range decoded(t) {
		chi, chk := m.clickhouses[0], m.keepers[0]
		ch, kp := clickhousePodLabels(chi), keeperPodLabels(chk)
		if len(ch) < 2 || len(kp) < 1 {
			t.Fatalf("%s: %d ClickHouse and %d Keeper pods", m.dir, len(ch), len(kp))
		}
		otherKeeper := kp[len(kp)-1]
		native := map[string]string{} // owner -> "TCP/port" of its --clickhouse.addr
		for _, r := range clickhouseClients(t, m) {
			_, port, err := net.SplitHostPort(strings.Split(r.config["clickhouse.addr"].value, ",")[0])
			if err != nil {
				t.Errorf("%s container %s: clickhouse.addr %q: %v", r.owner, r.container, r.config["clickhouse.addr"].value, err)
				continue
			}
			native[r.owner] = "TCP/" + port
		}
		type expect struct {
			subject
			clickhouse, keeper []string // ports it may reach on a ClickHouse replica, on a Keeper node
		}
		var cases []expect
		for _, w := range m.workloads() {
			e := expect{subject: subject{w.String(), ownNamespace, labels.Set(w.pod.Labels)}}
			if p, ok := native[m.dir+" "+w.String()]; ok {
				e.clickhouse = []string{p}
			}
			cases = append(cases, e)
		}
		est := labels.Set(m.deployments[0].Spec.Template.Labels)
		cases = append(cases,
			expect{subject: subject{"the other ClickHouse replica", ownNamespace, ch[1]}, clickhouse: []string{"TCP/9000", "TCP/9009"}, keeper: []string{"TCP/" + keeperClientPort(chk)}},
			expect{subject: subject{"another Keeper node", ownNamespace, otherKeeper}, keeper: []string{"TCP/" + keeperRaftPort(chk)}},
			expect{subject: subject{"another pod of the namespace", ownNamespace, labels.Set{"app": "something-else"}}},
			expect{subject: subject{"a pod of another namespace labelled as the estimator", "elsewhere", est}},
			expect{subject: subject{"a pod of another namespace labelled as a ClickHouse replica", "elsewhere", ch[1]}},
			expect{subject: subject{"an address outside the cluster", "", nil}},
		)
		for _, op := range operatorPods {
			cases = append(cases, expect{subject: op, clickhouse: []string{"TCP/8123"}})
		}
		for _, c := range cases {
			for _, dst := range []struct {
				name string
				pod  labels.Set
				want []string
			}{{"ClickHouse replica 0", ch[0], c.clickhouse}, {"Keeper node 0", kp[0], c.keeper}} {
				got := ingressPorts(t, m, dst.pod, c.subject)
				want := map[string]bool{}
				for _, p := range dst.want {
					want[p] = true
				}
				if portList(got) != portList(want) {
					t.Errorf("%s: %s (%s %v) may reach %s on %s, want %s", m.dir, c.name, c.namespace, c.labels, dst.name, portList(got), portList(want))
				}
				// What it may reach, its own policies let it send (for pods of the namespace).
				if c.namespace != ownNamespace {
					continue
				}
				out := egressPorts(t, m, c.labels, subject{dst.name, ownNamespace, dst.pod}, false)
				for p := range want {
					if !out[p] && !out["any"] {
						t.Errorf("%s: %s may not send to %s on %s", m.dir, c.name, dst.name, p)
					}
				}
			}
		}
		// Out of ClickHouse and the Keeper: DNS (port 53 anywhere), and each to what it needs
		// only — not, say, the Pushgateway the hashatlas pods push to.
		dsts := []subject{
			{"the other ClickHouse replica", ownNamespace, ch[1]},
			{"a Keeper node", ownNamespace, otherKeeper},
			{"the estimator", ownNamespace, est},
			{"kube-dns", "kube-system", labels.Set{"k8s-app": "kube-dns"}},
			{"the Pushgateway", "monitoring", labels.Set{"app.kubernetes.io/name": "prometheus-pushgateway"}},
			{"an address outside the cluster", "", nil},
		}
		for _, src := range []struct {
			name string
			pod  labels.Set
			want map[string][]string // by destination, beside DNS
		}{
			{"ClickHouse replica 0", ch[0], map[string][]string{"the other ClickHouse replica": {"TCP/9000", "TCP/9009"}, "a Keeper node": {"TCP/" + keeperClientPort(chk)}}},
			{"Keeper node 0", kp[0], map[string][]string{"a Keeper node": {"TCP/" + keeperRaftPort(chk)}}},
		} {
			for _, dst := range dsts {
				want := map[string]bool{"UDP/53": true, "TCP/53": true}
				for _, p := range src.want[dst.name] {
					want[p] = true
				}
				if got := egressPorts(t, m, src.pod, dst, true); portList(got) != portList(want) {
					t.Errorf("%s: %s may send to %s on %s, want %s", m.dir, src.name, dst.name, portList(got), portList(want))
				}
			}
		}
	}
}

// privateRanges are the address ranges a pod network is allocated from (RFC 1918, the shared
// address space some CNIs use, IPv6 unique local) and loopback.
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "fc00::/7", "::1/128"}

func insidePrivateRanges(t *testing.T, cidr string) bool {
	t.Helper()
	if !strings.Contains(cidr, "/") {
		if ip := net.ParseIP(cidr); ip != nil && ip.To4() != nil {
			cidr += "/32"
		} else {
			cidr += "/128"
		}
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return false
	}
	size, _ := n.Mask.Size()
	for _, r := range privateRanges {
		_, p, _ := net.ParseCIDR(r)
		psize, _ := p.Mask.Size()
		if p.Contains(n.IP) && size >= psize && len(p.IP) == len(n.IP) {
			return true
		}
	}
	return false
}

// TestClickHouseUserIsNotOpenToTheInternet: the user hashatlas logs in as lists the networks it
// may log in from (without them the operator would admit only localhost and the replicas
// themselves), and each is inside the private ranges pod networks use: never 0.0.0.0/0, ::/0
// or a public address. Host patterns, if any, name hosts of the cluster's service domain only.
func TestClickHouseUserIsNotOpenToTheInternet(t *testing.T) {
	for _, m := range decoded(t) {
		chi := m.clickhouses[0]
		users := map[string]bool{}
		for _, r := range clickhouseClients(t, m) {
			users[r.config["clickhouse.username"].value] = true
		}
		if len(users) == 0 {
			t.Fatalf("%s: no container connects to ClickHouse", m.dir)
		}
		for user := range users {
			where := m.dir + " ClickHouseInstallation/" + chi.Name + " user " + user
			raw, ok := chi.Spec.Configuration.Users[user+"/networks/ip"]
			if !ok {
				t.Errorf("%s: no networks/ip", where)
				continue
			}
			var ips []string
			if json.Unmarshal(raw, &ips) != nil {
				var one string
				if err := json.Unmarshal(raw, &one); err != nil {
					t.Errorf("%s: networks/ip %s: want a string or a list of strings", where, raw)
					continue
				}
				ips = []string{one}
			}
			if len(ips) == 0 {
				t.Errorf("%s: networks/ip is empty", where)
			}
			for _, ip := range ips {
				if !insidePrivateRanges(t, ip) {
					t.Errorf("%s: networks/ip %q is not inside the private ranges %v", where, ip, privateRanges)
				}
			}
			for _, key := range []string{"networks/host", "networks/host_regexp", "networks/host_like"} {
				raw, ok := chi.Spec.Configuration.Users[user+"/"+key]
				if !ok {
					continue
				}
				var patterns []string
				if json.Unmarshal(raw, &patterns) != nil {
					var one string
					_ = json.Unmarshal(raw, &one)
					patterns = []string{one}
				}
				for _, p := range patterns {
					// A host_regexp must name hosts of the cluster's service domain, to the end of
					// the name: reverse DNS outside the cluster is whatever its owner says.
					open := p == "" || strings.Contains(p, "%") || strings.Contains(p, "*")
					if key == "networks/host_regexp" {
						re, err := regexp.Compile(p)
						open = err != nil || re.MatchString("attacker.example.com") || !strings.HasSuffix(p, "$") || !strings.Contains(p, `\.svc\.`)
					}
					if open {
						t.Errorf("%s: %s %q admits hosts outside the cluster", where, key, p)
					}
				}
			}
		}
	}
}
