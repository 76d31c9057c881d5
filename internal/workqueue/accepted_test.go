package workqueue

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jobwq/jobwq/internal/position"
)

// TestEveryProblemAtOnce: the rules the schema does not state run on what
// it accepted of a spec it refused, so one run tells both; and a value the
// schema refused is never judged again by them as if it were unset (a
// zero), which would report a mistake the user did not make.
func TestEveryProblemAtOnce(t *testing.T) {
	const base = "apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata: {name: job-wq}\nspec:\n  items: [a]\n  worker:\n    image: registry.example.com/w:v1\n    command: [run]\n"
	for _, tt := range []struct {
		name string
		add  string
		want []string
	}{
		{
			name: "a GPU of 0.5 beside a typo",
			add:  "    comand: [x]\n    resources: {limits: {nvidia.com/gpu: 0.5}}\n",
			want: []string{
				`wq.yaml:9:5: spec.worker.comand: unknown field "comand" (did you mean "command"?)`,
				`wq.yaml:10:42: spec.worker.resources.limits."nvidia.com/gpu": must be a whole number, found 0.5`,
			},
		},
		{
			name: "wait 0s and value with valueFrom beside a wrong type",
			add:  "    parallelism: lots\n    wait: 0s\n    env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n",
			want: []string{
				`wq.yaml:9:18: spec.worker.parallelism: expected an integer, found string "lots"`,
				`wq.yaml:10:11: spec.worker.wait: must be at least 1s, found 0s`,
				`wq.yaml:11:18: spec.worker.env[0]: set exactly one of value and valueFrom`,
			},
		},
		{
			name: "a refused timeout is not compared with activeDeadline",
			add:  "    timeout: 90\n    activeDeadline: 10m\n",
			want: []string{`wq.yaml:9:14: spec.worker.timeout: expected a duration such as 90s, 10m or 1h30m, found the number 90 (did you mean "90s"?)`},
		},
		{
			name: "a refused toleration key is not an empty one",
			add:  "    tolerations: [{key: \"not a key\", operator: Equal}]\n",
			want: []string{`wq.yaml:9:25: spec.worker.tolerations[0].key: must be a label key: an optional DNS subdomain and '/', then 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		},
		{
			name: "a refused volume is neither sourceless nor missing",
			add:  "    volumes: [{name: v, configMap: 5}]\n    volumeMounts: [{name: v, mountPath: /data}]\n",
			want: []string{`wq.yaml:9:36: spec.worker.volumes[0].configMap: expected a mapping, found int 5`},
		},
		{
			name: "a refused limit is not a missing one",
			add:  "    resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: [1]}}\n",
			want: []string{`wq.yaml:9:73: spec.worker.resources.limits."nvidia.com/gpu": expected a Kubernetes quantity such as 500m or 1Gi, found a list`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, map[string]string{"wq.yaml": base + tt.add})
			_, err := Load("wq.yaml")
			var es position.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load: %v, want position.Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
