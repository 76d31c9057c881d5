package conformance

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNegativeControls shows that the judge used on jobwq's output can
// fail, and fails for the right reason: each control is something a real
// cluster refuses or warns about, put through the same judge.
func TestNegativeControls(t *testing.T) {
	tests := []struct {
		name string
		dir  string // under testdata, a kustomization
		want string // in one of the problems judge reports
	}{
		{
			name: "article Deployment as extensions/v1beta1",
			dir:  "article-deployment-extensions",
			want: `no matches for kind "Deployment" in version "extensions/v1beta1"`,
		},
		{
			name: "article Deployment as apps/v1",
			dir:  "article-deployment-apps-v1",
			want: `spec.selector: Required value`,
		},
		{
			name: "article worker as a Pod",
			dir:  "article-worker-pod",
			want: `violates PodSecurity "restricted:latest"`,
		},
		{
			name: "RabbitmqCluster with a misspelt field",
			dir:  "rabbitmqcluster-misspelt",
			want: `unknown field "spec.replica"`,
		},
		{
			// Accepted, but the warning alone must fail the judge.
			name: "article Job",
			dir:  "article-job",
			want: `Warning: would violate PodSecurity "restricted:latest"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := judge(t, filepath.Join("testdata", tt.dir))
			for _, p := range problems {
				if strings.Contains(p, tt.want) {
					t.Logf("judged as expected: %s", p)
					return
				}
			}
			t.Errorf("no problem mentions %q; judge found %d:\n%s", tt.want, len(problems), strings.Join(problems, "\n"))
		})
	}
}
