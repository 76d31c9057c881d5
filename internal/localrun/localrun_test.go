package localrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/jobwq/jobwq/internal/exitcode"
)

func job(ctr corev1.Container, completions, parallelism, backoffLimit int32) *batchv1.Job {
	j := &batchv1.Job{}
	j.Name = "w"
	j.Spec.Completions = ptr.To(completions)
	j.Spec.Parallelism = ptr.To(parallelism)
	j.Spec.BackoffLimit = ptr.To(backoffLimit)
	j.Spec.Template.Spec.Containers = []corev1.Container{ctr}
	return j
}

func TestPrepare(t *testing.T) {
	ctr := corev1.Container{
		Name:    "seed",
		Command: []string{"/opt/jobwq/jobwq"},
		Args:    []string{"seed", "--queue=q", "--items=/items", "/items", "/itemsx"},
		Env: []corev1.EnvVar{
			{Name: "BROKER_HOST", Value: "svc"},
			{Name: "BROKER_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "password"}}},
			{Name: "MODE", Value: "fast"},
			{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "t"}}},
			{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "r"}}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "items", MountPath: "/items"}},
	}
	var logged []string
	p, err := prepare(job(ctr, 1, 1, 0), Options{
		BrokerURL: "amqp://u:p@localhost:5672/",
		Volumes:   map[string]string{"items": "/tmp/chunks"},
		Env:       []string{"PATH=/bin", "TOKEN=t0k", "BROKER_HOST=stale", "MODE=slow"},
		Logf:      func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"seed", "--queue=q", "--items=/tmp/chunks", "/tmp/chunks", "/itemsx"}, p.args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	env := slices.Clone(p.env)
	slices.Sort(env)
	if diff := cmp.Diff([]string{"BROKER_URL=amqp://u:p@localhost:5672/", "MODE=fast", "PATH=/bin", "TOKEN=t0k"}, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "REGION") {
		t.Errorf("logged %q, want one line about REGION", logged)
	}

	for _, bad := range [][]string{{"python3"}, {"/opt/jobwq/jobwq", "work"}} {
		ctr.Command = bad
		if _, err := prepare(job(ctr, 1, 1, 0), Options{}); err == nil {
			t.Errorf("a container running %q was accepted", bad)
		}
	}
}

// fakeJobwq stands in for jobwq work: it records that it ran and exits
// with $CODE. The real worker runs in testdata/script/run_local.txtar;
// this one drives the pool through exits a real broker gives only by
// chance.
func fakeJobwq(t *testing.T) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "jobwq")
	log = filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\nexit ${CODE:-0}\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

func TestWork(t *testing.T) {
	ctr := corev1.Container{Name: "worker", Command: []string{"/opt/jobwq/jobwq"}, Args: []string{"work", "--", "cat"}}
	tests := []struct {
		name        string
		code        int
		completions int32
		parallelism int32
		wantRuns    int
		wantSum     Summary
		wantCode    int // 0: no failure
		wantErr     string
	}{
		{name: "every item succeeds", code: 0, completions: 5, parallelism: 2, wantRuns: 5, wantSum: Summary{Succeeded: 5}},
		{name: "failures up to backoffLimit, then the run fails", code: exitcode.Failed, completions: 5, parallelism: 1, wantRuns: 3, wantSum: Summary{Failed: 3},
			wantCode: exitcode.Findings, wantErr: "3 workers failed, more than backoffLimit 2"},
		{name: "no item left", code: exitcode.NoItem, completions: 5, parallelism: 2, wantRuns: 2,
			wantCode: exitcode.Findings, wantErr: "a worker found no item with 0 of 5 done"},
		{name: "usage error", code: exitcode.Usage, completions: 5, parallelism: 2, wantRuns: 2,
			wantCode: exitcode.Usage, wantErr: "a worker exited with status 2"},
		{name: "broker error is retried", code: exitcode.Broker, completions: 1, parallelism: 1, wantRuns: 3, wantSum: Summary{Failed: 3},
			wantCode: exitcode.Findings, wantErr: "3 workers failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, log := fakeJobwq(t)
			sum, err := Work(context.Background(), job(ctr, tt.completions, tt.parallelism, 2), Options{
				Self: bin, Env: []string{fmt.Sprintf("CODE=%d", tt.code), "PATH=" + os.Getenv("PATH")},
			})
			if sum != tt.wantSum {
				t.Errorf("summary = %+v, want %+v", sum, tt.wantSum)
			}
			var f *Failure
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantCode != 0 && (!errors.As(err, &f) || f.Code != tt.wantCode || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want a failure with status %d saying %q", err, tt.wantCode, tt.wantErr)
			}
			b, _ := os.ReadFile(log)
			runs := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(runs) != tt.wantRuns {
				t.Errorf("%d workers ran, want %d", len(runs), tt.wantRuns)
			}
			if runs[0] != "work -- cat" {
				t.Errorf("worker arguments %q", runs[0])
			}
		})
	}
}
