package deploy

// The production topology (docker/, compose/, k8s/, s3/, iam/) is checked here
// against the binary it runs: Docker is not needed, the files are parsed and
// every meshflow invocation in them is matched against `meshflow <cmd> -h` of a
// binary built like the Dockerfile builds it.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite k8s/mesh-configmap.yaml from examples/mesh")

// meshDir is the mesh the deploy files carry.
const meshDir = "../examples/mesh"

// cli describes the built binary: its commands and each command's flags.
type cli struct {
	commands map[string]map[string]cliFlag
	env      map[string]bool // MESHFLOW_* variables the binary reads
}

type cliFlag struct {
	isBool bool
	def    string
}

var (
	cliOnce sync.Once
	cliVal  *cli
	cliErr  error
)

// meshflowCLI builds cmd/meshflow once and reads its usage.
func meshflowCLI(t *testing.T) *cli {
	t.Helper()
	cliOnce.Do(func() { cliVal, cliErr = buildCLI() })
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliVal
}

func buildCLI() (*cli, error) {
	dir, err := os.MkdirTemp("", "meshflow-deploy-test")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "meshflow")
	build := exec.Command("go", "build", "-o", bin, "../cmd/meshflow")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/meshflow: %v\n%s", err, out)
	}
	help, err := exec.Command(bin, "help").Output()
	if err != nil {
		return nil, fmt.Errorf("meshflow help: %v", err)
	}
	c := &cli{commands: map[string]map[string]cliFlag{}, env: map[string]bool{}}
	inCommands := false
	for line := range strings.SplitSeq(string(help), "\n") {
		if strings.HasPrefix(line, "Commands:") {
			inCommands = true
			continue
		}
		if inCommands && strings.HasPrefix(line, "  ") {
			c.commands[strings.Fields(line)[0]] = nil
		}
	}
	if len(c.commands) < 10 {
		return nil, fmt.Errorf("meshflow help lists %d commands:\n%s", len(c.commands), help)
	}
	for name := range c.commands {
		cmd := exec.Command(bin, name, "-h")
		cmd.Env = cleanEnv()
		out, _ := cmd.CombinedOutput() // -h exits 2 after printing the usage
		c.commands[name] = parseUsage(string(out))
	}
	// Every MESHFLOW_* name in the sources of the binary's command.
	files, err := filepath.Glob("../cmd/meshflow/*.go")
	if err != nil {
		return nil, err
	}
	envName := regexp.MustCompile(`"(MESHFLOW_[A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range envName.FindAllStringSubmatch(string(b), -1) {
			c.env[m[1]] = true
		}
	}
	return c, nil
}

// cleanEnv is the environment without MESHFLOW_* variables, so that usage
// shows the built-in defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESHFLOW_") {
			env = append(env, kv)
		}
	}
	return env
}

var usageFlag = regexp.MustCompile(`^  -([a-zA-Z0-9-]+)(?: ([a-z]+))?$`)
var usageDefault = regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)

// parseUsage reads the flags of a flag.FlagSet's PrintDefaults output.
func parseUsage(out string) map[string]cliFlag {
	flags := map[string]cliFlag{}
	var last string
	for line := range strings.SplitSeq(out, "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			last = m[1]
			flags[last] = cliFlag{isBool: m[2] == ""}
			continue
		}
		if last != "" && strings.HasPrefix(line, "    \t") {
			if m := usageDefault.FindStringSubmatch(line); m != nil {
				f := flags[last]
				f.def = m[1]
				flags[last] = f
			}
		}
	}
	return flags
}

// invocation is one meshflow command line found in a deploy file.
type invocation struct {
	where string
	cmd   string
	flags map[string]string // flag name → value ("true" for bare bool flags)
	args  []string
	env   map[string]string // environment the file gives the container
	ports []int             // container ports published or declared
}

// parseArgs splits a meshflow command line as package flag would, checking
// every flag against the command's flag set.
func (c *cli) parseArgs(t *testing.T, where string, argv []string) invocation {
	t.Helper()
	inv := invocation{where: where, flags: map[string]string{}, env: map[string]string{}}
	if len(argv) == 0 {
		t.Errorf("%s: runs meshflow without a command", where)
		return inv
	}
	inv.cmd = argv[0]
	set, ok := c.commands[inv.cmd]
	if !ok {
		t.Errorf("%s: meshflow has no command %q", where, inv.cmd)
		return inv
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			inv.args = append(inv.args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := set[name]
		if !ok {
			t.Errorf("%s: meshflow %s has no flag --%s", where, inv.cmd, name)
			continue
		}
		switch {
		case hasValue:
		case f.isBool:
			value = "true"
		case i+1 < len(argv):
			i++
			value = argv[i]
		default:
			t.Errorf("%s: --%s needs a value", where, name)
		}
		inv.flags[name] = value
	}
	return inv
}

// value is the flag's value in inv: given, else the default.
func (c *cli) value(inv invocation, name string) (string, bool) {
	if v, ok := inv.flags[name]; ok {
		return v, true
	}
	f, ok := c.commands[inv.cmd][name]
	return f.def, ok
}

// listenFlags are the flags that name an address a command listens on.
var listenFlags = []string{"listen", "metrics-listen"}

// checkInvocation checks what every meshflow container must satisfy.
func (c *cli) checkInvocation(t *testing.T, inv invocation) {
	t.Helper()
	for name := range inv.env {
		if strings.HasPrefix(name, "MESHFLOW_") && !c.env[name] {
			t.Errorf("%s: sets %s, which meshflow does not read", inv.where, name)
		}
	}
	listening := map[int]string{}
	for _, name := range listenFlags {
		v, ok := c.value(inv, name)
		if !ok || v == "" {
			continue
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			t.Errorf("%s: --%s %q: %v", inv.where, name, v, err)
			continue
		}
		p, _ := strconv.Atoi(port)
		listening[p] = host
	}
	for _, p := range inv.ports {
		host, ok := listening[p]
		switch {
		case !ok:
			t.Errorf("%s: port %d is published, but meshflow %s listens on %v", inv.where, p, inv.cmd, listening)
		case host == "127.0.0.1" || host == "localhost" || host == "::1":
			t.Errorf("%s: port %d is published, but meshflow %s listens on loopback %s only", inv.where, p, inv.cmd, host)
		}
	}
	if inv.cmd == "worker" {
		q, ok := inv.flags["task-queues"]
		if !ok || strings.Contains(q, ",") {
			t.Errorf("%s: a production worker polls exactly its domain's queue (--task-queues meshflow-<domain>), got %q", inv.where, q)
		}
		for _, name := range []string{"scratch", "scratch-limit", "stop-timeout", "max-activities", "max-sessions"} {
			if _, ok := inv.flags[name]; !ok {
				t.Errorf("%s: worker does not set --%s", inv.where, name)
			}
		}
	}
}

// stopTimeout is the worker's --stop-timeout.
func (c *cli) stopTimeout(t *testing.T, inv invocation) time.Duration {
	v, _ := c.value(inv, "stop-timeout")
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Errorf("%s: --stop-timeout %q: %v", inv.where, v, err)
	}
	return d
}

// domainQueues are the task queues of the mesh's domains.
func domainQueues(t *testing.T) []string {
	t.Helper()
	var m struct {
		Domains []struct {
			Name      string `yaml:"name"`
			TaskQueue string `yaml:"taskQueue"`
		} `yaml:"domains"`
	}
	b, err := os.ReadFile(filepath.Join(meshDir, "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, d := range m.Domains {
		q := d.TaskQueue
		if q == "" {
			q = "meshflow-" + d.Name
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		t.Fatal("the example mesh has no domains")
	}
	return qs
}

// checkImage fails an image reference that is not pinned to a version.
func checkImage(t *testing.T, where, image string) {
	t.Helper()
	ref := image
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if strings.Contains(image, "@sha256:") {
		return
	}
	_, tag, ok := strings.Cut(ref, ":")
	if !ok || tag == "" || tag == "latest" || strings.Contains(tag, "$") {
		t.Errorf("%s: image %q is not pinned to a version", where, image)
	}
}

// ---- Dockerfile

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var entrypoint, user string
	var build bool
	var exposed []int
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(b), "\\\n", " ")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		kw, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			froms = append(froms, strings.Fields(rest)[0])
		case "ENTRYPOINT":
			entrypoint = strings.TrimSpace(rest)
		case "USER":
			user = strings.TrimSpace(rest)
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Errorf("EXPOSE %s: %v", p, err)
				}
				exposed = append(exposed, n)
			}
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = true
				for _, want := range []string{"-trimpath", "./cmd/meshflow"} {
					if !strings.Contains(rest, want) {
						t.Errorf("the go build of the Dockerfile lacks %q: %s", want, rest)
					}
				}
			}
		}
	}
	if !build {
		t.Error("the Dockerfile does not go build meshflow")
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %v", froms)
	}
	for _, f := range froms {
		checkImage(t, "Dockerfile FROM", f)
	}
	if !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("build stage %s: want golang:1.26 (go.mod's go version)", froms[0])
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{"meshflow"}) {
		t.Errorf(`ENTRYPOINT %s: want ["meshflow"] (exec form)`, entrypoint)
	}
	if user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("USER %q: the image must run as a non-root user", user)
	}
	c := meshflowCLI(t)
	defaults := map[int]bool{}
	for _, set := range c.commands {
		for _, name := range listenFlags {
			if _, p, err := net.SplitHostPort(set[name].def); err == nil {
				n, _ := strconv.Atoi(p)
				defaults[n] = true
			}
		}
	}
	for _, inv := range append(composeInvocations(t, c), k8sInvocations(t, c)...) {
		for _, p := range inv.ports {
			defaults[p] = true
		}
	}
	for _, p := range exposed {
		if !defaults[p] {
			t.Errorf("EXPOSE %d: no meshflow command listens there by default nor in the deploy files", p)
		}
	}
}

// The meshflow binary, the image's, does not link the Temporal server: only
// meshflow-temporal does, which meshflow dev runs as a child process.
func TestMeshflowLeavesOutTheTemporalServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/meshflow").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for pkg := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(pkg, "go.temporal.io/server") || strings.HasSuffix(pkg, "/devserver") || strings.Contains(pkg, "temporalio/ui-server") {
			t.Errorf("cmd/meshflow links %s", pkg)
		}
	}
	if !strings.Contains(string(out), "go.temporal.io/sdk/client") {
		t.Error("go list output does not look like meshflow's dependencies")
	}
	c := meshflowCLI(t)
	if _, ok := c.commands["dev"]; !ok {
		t.Error("meshflow dev is not listed")
	}
}

// ---- compose

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command         []string          `yaml:"command"`
	Entrypoint      any               `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Secrets         []string          `yaml:"secrets"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	DependsOn       map[string]any    `yaml:"depends_on"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	return f
}

// isMeshflow reports whether a compose service runs the image of deploy/docker.
func (s composeService) isMeshflow() bool {
	return s.Build != nil && filepath.Clean(filepath.Join("compose", s.Build.Context, s.Build.Dockerfile)) == filepath.Clean("../deploy/docker/Dockerfile")
}

// containerPort reads the container side of a compose port mapping.
func containerPort(t *testing.T, where, mapping string) int {
	parts := strings.Split(strings.TrimSuffix(mapping, "/tcp"), ":")
	p, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil {
		t.Errorf("%s: port %q: %v", where, mapping, err)
	}
	return p
}

func composeInvocations(t *testing.T, c *cli) []invocation {
	t.Helper()
	var invs []invocation
	f := readCompose(t)
	names := make([]string, 0, len(f.Services))
	for name := range f.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := f.Services[name]
		if !s.isMeshflow() {
			continue
		}
		where := "compose service " + name
		if s.Entrypoint != nil {
			t.Errorf("%s: overrides the image's meshflow entrypoint", where)
		}
		inv := c.parseArgs(t, where, s.Command)
		inv.env = s.Environment
		for _, p := range s.Ports {
			inv.ports = append(inv.ports, containerPort(t, where, p))
		}
		invs = append(invs, inv)
	}
	return invs
}

func TestCompose(t *testing.T) {
	c := meshflowCLI(t)
	f := readCompose(t)
	meshflowImages := map[string]bool{}
	for name, s := range f.Services {
		where := "compose service " + name
		if s.Image == "" {
			t.Errorf("%s: no image name", where)
		} else {
			checkImage(t, where, s.Image)
		}
		if s.isMeshflow() {
			meshflowImages[s.Image] = true
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join("compose", s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s: build: %v", where, err)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("%s: mounts %s: %v", where, src, err)
				}
			} else if _, ok := f.Volumes[src]; !ok {
				t.Errorf("%s: volume %q is not declared", where, src)
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := f.Secrets[sec]; !ok {
				t.Errorf("%s: secret %q is not declared", where, sec)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("%s: depends on unknown service %s", where, dep)
			}
		}
		for k, v := range s.Environment {
			if strings.Contains(strings.ToUpper(k), "PASSWORD") || strings.Contains(strings.ToUpper(k), "SECRET") {
				if !strings.HasPrefix(v, "${") {
					t.Errorf("%s: %s is written in the file; take it from .env (${…})", where, k)
				}
			}
		}
	}
	if len(meshflowImages) != 1 {
		t.Errorf("the meshflow services use images %v, want one, built from deploy/docker/Dockerfile", meshflowImages)
	}

	// Temporal's server matches the server module meshflow is tested with.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go\.temporal\.io/server v(\d+\.\d+)\.`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require go.temporal.io/server")
	}
	if img := f.Services["temporal"].Image; !strings.HasPrefix(img, "temporalio/server:"+string(m[1])+".") {
		t.Errorf("compose temporal image %q: want temporalio/server:%s.x like go.mod", img, m[1])
	}
	for _, svc := range []string{"postgresql", "temporal", "temporal-ui", "versitygw", "meshflow-serve", "codec-server", "prometheus", "grafana"} {
		if _, ok := f.Services[svc]; !ok {
			t.Errorf("compose.yaml has no %s service", svc)
		}
	}

	invs := composeInvocations(t, c)
	workers := map[string]string{} // queue → service
	listens := map[string]int{}    // "service:port" served by meshflow
	for _, inv := range invs {
		c.checkInvocation(t, inv)
		svc := strings.TrimPrefix(inv.where, "compose service ")
		for _, name := range listenFlags {
			if v, ok := c.value(inv, name); ok && v != "" {
				if _, p, err := net.SplitHostPort(v); err == nil {
					n, _ := strconv.Atoi(p)
					listens[svc+":"+p] = n
				}
			}
		}
		if inv.cmd != "worker" {
			continue
		}
		workers[inv.flags["task-queues"]] = svc
		grace, err := time.ParseDuration(f.Services[svc].StopGracePeriod)
		if err != nil {
			t.Errorf("%s: stop_grace_period %q: %v", inv.where, f.Services[svc].StopGracePeriod, err)
		}
		if stop := c.stopTimeout(t, inv); grace <= stop {
			t.Errorf("%s: stop_grace_period %s does not leave --stop-timeout %s to finish", inv.where, grace, stop)
		}
	}
	for _, q := range domainQueues(t) {
		if workers[q] == "" {
			t.Errorf("compose.yaml has no worker for task queue %s", q)
		}
	}

	// Prometheus scrapes the addresses meshflow serves metrics on.
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile("compose/prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	targets := 0
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				targets++
				if _, ok := listens[target]; !ok {
					t.Errorf("compose/prometheus.yaml scrapes %s, where no meshflow service listens (have %v)", target, listens)
				}
			}
		}
	}
	if targets < len(workers)+1 {
		t.Errorf("compose/prometheus.yaml scrapes %d targets, want every worker and serve", targets)
	}
	for _, rf := range prom.RuleFiles {
		const mount = "/etc/prometheus/meshflow/"
		if !strings.HasPrefix(rf, mount) {
			t.Errorf("rule file %s is not under %s", rf, mount)
		} else if _, err := os.Stat(filepath.Join("prometheus", strings.TrimPrefix(rf, mount))); err != nil {
			t.Errorf("rule file %s: %v", rf, err)
		}
	}
}

// ---- Kubernetes

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
	file string
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	Containers                    []struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *struct {
			HTTPGet *struct {
				Path string `yaml:"path"`
				Port any    `yaml:"port"`
			} `yaml:"httpGet"`
		} `yaml:"readinessProbe"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name     string `yaml:"name"`
		EmptyDir *struct {
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

func readK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var o k8sObject
			if err := dec.Decode(&o); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: an object without kind or name", f)
			}
			o.file = f
			objs = append(objs, o)
		}
	}
	return objs
}

func isMeshflowImage(image string) bool {
	name, _, _ := strings.Cut(image, ":")
	return name == "meshflow" || strings.HasSuffix(name, "/meshflow")
}

func k8sInvocations(t *testing.T, c *cli) []invocation {
	t.Helper()
	objs := readK8s(t)
	configMaps := map[string]map[string]string{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	var invs []invocation
	for _, o := range objs {
		for _, ctr := range o.Spec.Template.Spec.Containers {
			if !isMeshflowImage(ctr.Image) {
				continue
			}
			where := fmt.Sprintf("%s %s/%s", o.file, o.Metadata.Name, ctr.Name)
			if len(ctr.Command) > 0 {
				t.Errorf("%s: overrides the image's meshflow entrypoint", where)
			}
			inv := c.parseArgs(t, where, ctr.Args)
			for _, e := range ctr.Env {
				inv.env[e.Name] = "(set)"
			}
			for _, ef := range ctr.EnvFrom {
				if ef.ConfigMapRef != nil {
					data, ok := configMaps[ef.ConfigMapRef.Name]
					if !ok {
						t.Errorf("%s: envFrom ConfigMap %s is not in deploy/k8s", where, ef.ConfigMapRef.Name)
					}
					for k, v := range data {
						inv.env[k] = v
					}
				}
			}
			for _, p := range ctr.Ports {
				inv.ports = append(inv.ports, p.ContainerPort)
			}
			invs = append(invs, inv)
		}
	}
	return invs
}

// quantity reads a Kubernetes or meshflow size such as 20Gi.
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Errorf("size %q: %v", s, err)
			}
			return v * mult
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Errorf("size %q: want a number with Ki, Mi, Gi or Ti", s)
	}
	return v
}

func TestKubernetes(t *testing.T) {
	c := meshflowCLI(t)
	objs := readK8s(t)
	invs := k8sInvocations(t, c)
	byWhere := map[string]invocation{}
	for _, inv := range invs {
		c.checkInvocation(t, inv)
		byWhere[inv.where] = inv
	}
	configMaps := map[string]bool{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = true
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	workers := map[string]bool{}
	queues := domainQueues(t)
	for _, o := range objs {
		pod := o.Spec.Template.Spec
		volumes := map[string]int{}
		for i, v := range pod.Volumes {
			volumes[v.Name] = i
			if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
				t.Errorf("%s: volume %s uses ConfigMap %s, which deploy/k8s does not define", o.file, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !strings.Contains(string(readme), docName(v.Secret.SecretName, queues)) {
				t.Errorf("%s: Secret %s is not documented in deploy/README.md", o.file, v.Secret.SecretName)
			}
		}
		for _, ctr := range pod.Containers {
			where := fmt.Sprintf("%s %s/%s", o.file, o.Metadata.Name, ctr.Name)
			checkImage(t, where, ctr.Image)
			for _, ef := range ctr.EnvFrom {
				if ef.SecretRef != nil && !strings.Contains(string(readme), docName(ef.SecretRef.Name, queues)) {
					t.Errorf("%s: Secret %s is not documented in deploy/README.md", where, ef.SecretRef.Name)
				}
			}
			mounts := map[string]string{}
			for _, m := range ctr.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("%s: mounts undeclared volume %s", where, m.Name)
				}
				mounts[m.MountPath] = m.Name
			}
			inv, ok := byWhere[where]
			if !ok {
				continue
			}
			// Files the settings name are where a volume is mounted.
			for k, v := range inv.env {
				if strings.HasSuffix(k, "_FILE") || strings.Contains(k, "_TLS_C") || strings.HasSuffix(k, "_TLS_KEY") || k == "MESHFLOW_MESH" || k == "MESHFLOW_SCRATCH" {
					if k == "MESHFLOW_SCRATCH" && inv.cmd != "worker" {
						continue // only workers use scratch
					}
					found := false
					for mp := range mounts {
						if v == mp || strings.HasPrefix(v, mp+"/") {
							found = true
						}
					}
					if !found {
						t.Errorf("%s: %s=%s is not on a mounted volume (mounts %v)", where, k, v, mounts)
					}
				}
			}
			if ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet == nil {
				if inv.cmd == "worker" || inv.cmd == "serve" {
					t.Errorf("%s: no HTTP readiness probe", where)
				}
			} else {
				named := false
				for _, p := range ctr.Ports {
					named = named || p.Name == fmt.Sprint(ctr.ReadinessProbe.HTTPGet.Port) || fmt.Sprint(p.ContainerPort) == fmt.Sprint(ctr.ReadinessProbe.HTTPGet.Port)
				}
				if !named || ctr.ReadinessProbe.HTTPGet.Path != "/metrics" {
					t.Errorf("%s: readiness probe %v is not /metrics on a declared port", where, *ctr.ReadinessProbe.HTTPGet)
				}
			}
			if inv.cmd != "worker" {
				continue
			}
			workers[inv.flags["task-queues"]] = true
			if o.Kind != "Deployment" {
				t.Errorf("%s: a worker is a %s, want a Deployment", where, o.Kind)
			}
			grace := 30 // Kubernetes' default
			if pod.TerminationGracePeriodSeconds != nil {
				grace = *pod.TerminationGracePeriodSeconds
			}
			if stop := c.stopTimeout(t, inv); time.Duration(grace)*time.Second <= stop {
				t.Errorf("%s: terminationGracePeriodSeconds %d does not leave --stop-timeout %s to finish", where, grace, stop)
			}
			scratch := inv.flags["scratch"]
			vol, ok := mounts[scratch]
			if !ok {
				t.Errorf("%s: --scratch %s is not a mounted volume", where, scratch)
				continue
			}
			ed := pod.Volumes[volumes[vol]].EmptyDir
			if ed == nil || ed.SizeLimit == "" {
				t.Errorf("%s: scratch volume %s is not an emptyDir with a sizeLimit", where, vol)
				continue
			}
			if limit, size := quantity(t, inv.flags["scratch-limit"]), quantity(t, ed.SizeLimit); limit > size {
				t.Errorf("%s: --scratch-limit %s exceeds the emptyDir sizeLimit %s", where, inv.flags["scratch-limit"], ed.SizeLimit)
			}
		}
	}
	for _, q := range queues {
		if !workers[q] {
			t.Errorf("deploy/k8s has no worker Deployment for task queue %s", q)
		}
	}

	// Every manifest is in the kustomization.
	var kz struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile("k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kz); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(kz.Resources, base) {
			t.Errorf("k8s/kustomization.yaml does not list %s", base)
		}
	}
	for _, r := range kz.Resources {
		if _, err := os.Stat(filepath.Join("k8s", r)); err != nil {
			t.Errorf("k8s/kustomization.yaml: %v", err)
		}
	}
	if !strings.Contains(string(readme), "temporalio/helm-charts") {
		t.Error("deploy/README.md does not point to Temporal's Helm chart")
	}
}

// docName is how the README names a per-domain object: meshflow-s3-<domain>.
func docName(name string, queues []string) string {
	for _, q := range queues {
		if d := strings.TrimPrefix(q, "meshflow-"); strings.HasSuffix(name, "-"+d) {
			return strings.TrimSuffix(name, d) + "<domain>"
		}
	}
	return name
}

// meshFiles are the example mesh's YAML files, by path relative to the mesh.
func meshFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(meshDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(meshDir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func configMapKey(rel string) string { return strings.ReplaceAll(rel, "/", "__") }

// TestK8sMeshConfigMap checks that the mesh ConfigMap holds the example mesh
// and that every pod mounting it maps each key back to its path.
func TestK8sMeshConfigMap(t *testing.T) {
	files := meshFiles(t)
	if *update {
		paths := slices.Sorted(func(yield func(string) bool) {
			for p := range files {
				if !yield(p) {
					return
				}
			}
		})
		b, err := os.ReadFile("k8s/mesh-configmap.yaml")
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(b), "\ndata:\n")
		var sb strings.Builder
		sb.WriteString(head + "\ndata:\n")
		for _, p := range paths {
			fmt.Fprintf(&sb, "  %s: |\n", configMapKey(p))
			for line := range strings.SplitSeq(strings.TrimRight(files[p], "\n"), "\n") {
				sb.WriteString(strings.TrimRight("    "+line, " ") + "\n")
			}
		}
		if err := os.WriteFile("k8s/mesh-configmap.yaml", []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var data map[string]string
	var mounts int
	for _, o := range readK8s(t) {
		if o.Kind == "ConfigMap" && o.Metadata.Name == "meshflow-mesh" {
			data = o.Data
		}
		for _, v := range o.Spec.Template.Spec.Volumes {
			if v.ConfigMap == nil || v.ConfigMap.Name != "meshflow-mesh" {
				continue
			}
			mounts++
			got := map[string]string{}
			for _, it := range v.ConfigMap.Items {
				got[it.Key] = it.Path
			}
			for rel := range files {
				if got[configMapKey(rel)] != rel {
					t.Errorf("%s %s: volume %s does not map key %s to %s", o.file, o.Metadata.Name, v.Name, configMapKey(rel), rel)
				}
			}
			if len(got) != len(files) {
				t.Errorf("%s %s: volume %s maps %d keys, the mesh has %d files", o.file, o.Metadata.Name, v.Name, len(got), len(files))
			}
		}
	}
	if mounts < 2 {
		t.Errorf("%d pods mount the mesh ConfigMap, want the workers and serve", mounts)
	}
	for rel, content := range files {
		if got, ok := data[configMapKey(rel)]; !ok || got != content {
			t.Errorf("k8s/mesh-configmap.yaml: %s differs from examples/mesh/%s; run go test ./deploy -run TestK8sMeshConfigMap -update", configMapKey(rel), rel)
		}
	}
	if len(data) != len(files) {
		t.Errorf("k8s/mesh-configmap.yaml has %d files, examples/mesh %d; run go test ./deploy -run TestK8sMeshConfigMap -update", len(data), len(files))
	}
}

// ---- S3 and IAM policies

type policy struct {
	Version   string `json:"Version"`
	ID        string `json:"Id"`
	Statement []struct {
		Sid         string         `json:"Sid"`
		Principal   any            `json:"Principal"`
		Effect      string         `json:"Effect"`
		Action      stringList     `json:"Action"`
		Resource    stringList     `json:"Resource"`
		NotResource stringList     `json:"NotResource"`
		Condition   map[string]any `json:"Condition"`
	} `json:"Statement"`
}

// stringList is an IAM field that is one string or a list of them.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

func readPolicy(t *testing.T, file string) policy {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(p.Statement) == 0 || p.Version != "2012-10-17" {
		t.Fatalf("%s: want Version 2012-10-17 and statements", file)
	}
	return p
}

func conditionJSON(c map[string]any) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func TestBucketPolicy(t *testing.T) {
	p := readPolicy(t, "s3/bucket-policy.json")
	want := map[string]func(cond string, actions []string) bool{
		"deny plain HTTP": func(cond string, a []string) bool {
			return strings.Contains(cond, `"aws:SecureTransport":"false"`) && slices.Contains(a, "s3:*")
		},
		"deny puts not encrypted with KMS": func(cond string, a []string) bool {
			return strings.Contains(cond, `"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}`) && slices.Contains(a, "s3:PutObject")
		},
		"deny puts without the encryption header": func(cond string, a []string) bool {
			return strings.Contains(cond, `"Null":{"s3:x-amz-server-side-encryption":"true"}`)
		},
		"deny unconditional writes of latest.json": func(cond string, a []string) bool {
			return strings.Contains(cond, `"s3:if-match":"true"`) && strings.Contains(cond, `"s3:if-none-match":"true"`)
		},
		"deny writes of mesh revisions by anyone but apply": func(cond string, a []string) bool {
			return strings.Contains(cond, `"aws:PrincipalArn":"arn:aws:iam::111122223333:role/meshflow-apply"`) && slices.Contains(a, "s3:PutObject")
		},
	}
	for what, match := range want {
		found := false
		for _, s := range p.Statement {
			if s.Effect == "Deny" && match(conditionJSON(s.Condition), s.Action) {
				found = true
			}
		}
		if !found {
			t.Errorf("s3/bucket-policy.json does not %s", what)
		}
	}
}

// allowedWrites are the resources a policy allows writing or deleting.
func allowedWrites(p policy) []string {
	var out []string
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if a == "s3:*" || a == "s3:PutObject" || a == "s3:DeleteObject" || strings.HasPrefix(a, "s3:Put") || strings.HasPrefix(a, "s3:Delete") {
				out = append(out, s.Resource...)
				break
			}
		}
	}
	return out
}

func TestLeastPrivilegeRoles(t *testing.T) {
	const mesh = "arn:aws:s3:::acme-data-mesh/mesh/"
	ingest := readPolicy(t, "iam/worker-ingest.json")
	for _, r := range allowedWrites(ingest) {
		if !strings.HasPrefix(r, mesh+"_staging/sales-china/") {
			t.Errorf("iam/worker-ingest.json may write %s: ingest writes only its domain's _staging/", r)
		}
	}
	if len(allowedWrites(ingest)) == 0 {
		t.Error("iam/worker-ingest.json cannot write staging")
	}
	publish := readPolicy(t, "iam/worker-publish.json")
	writes := allowedWrites(publish)
	for _, r := range writes {
		if !strings.HasPrefix(r, mesh+"sales-china/") && !strings.HasPrefix(r, mesh+"_grants/sales-china/") {
			t.Errorf("iam/worker-publish.json may write %s, outside its domain", r)
		}
	}
	for _, want := range []string{mesh + "sales-china/*/v*/*", mesh + "sales-china/*/latest.json"} {
		if !slices.Contains(writes, want) {
			t.Errorf("iam/worker-publish.json cannot write %s", want)
		}
	}
	for _, f := range []string{"iam/worker-ingest.json", "iam/worker-publish.json", "iam/serve.json"} {
		for _, r := range allowedWrites(readPolicy(t, f)) {
			if strings.HasPrefix(r, mesh+"_mesh/") || r == mesh+"*" {
				t.Errorf("%s may write %s: only apply writes mesh revisions", f, r)
			}
		}
	}
	apply := readPolicy(t, "iam/apply.json")
	for _, r := range allowedWrites(apply) {
		if !strings.HasPrefix(r, mesh+"_mesh/") {
			t.Errorf("iam/apply.json may write %s: apply writes only mesh revisions", r)
		}
	}
	if len(allowedWrites(apply)) == 0 {
		t.Error("iam/apply.json cannot write mesh revisions")
	}
	serve := readPolicy(t, "iam/serve.json")
	if w := allowedWrites(serve); len(w) > 0 {
		t.Errorf("iam/serve.json may write %v", w)
	}
	denied := false
	for _, s := range serve.Statement {
		denied = denied || s.Effect == "Deny" && slices.Contains(s.Action, "s3:PutObject")
	}
	if !denied {
		t.Error("iam/serve.json does not deny writes explicitly")
	}
}
