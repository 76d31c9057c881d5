// Package localrun runs a rendered WorkQueue on this machine, as a cluster
// would run it: the seeding Job's container once, then the worker Job's
// container as local processes, parallelism at a time, until completions
// have succeeded or the Job would have failed.
//
// What to run is read from the rendered Jobs themselves, so a local run
// and a pod run the same jobwq command with the same arguments and
// environment; only what only a cluster has is stood in for: the broker's
// address and credentials (one broker URL), volumes (local directories),
// and the jobwq binary the pods install (this one).
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/jobwq/jobwq/internal/exitcode"
)

// brokerEnvPrefix marks the variables a Job takes from the cluster's
// broker Service and Secret; locally BrokerURL replaces them all.
const brokerEnvPrefix = "BROKER_"

// Options say what stands in for the cluster.
type Options struct {
	// Self is the jobwq executable that runs in place of the containers'
	// jobwq (the image's entrypoint, or the copy the init container
	// installs).
	Self string
	// BrokerURL is the broker, with credentials, as BROKER_URL.
	BrokerURL string
	// Volumes maps a pod volume's name to a local directory; a container
	// argument naming the volume's mount path is rewritten to it.
	Volumes map[string]string
	// Env is the environment the processes start from, and where env
	// entries the cluster would resolve (valueFrom) are looked up.
	Env []string
	// Stdout and Stderr receive the processes' output.
	Stdout, Stderr io.Writer
	// Logf reports what cannot be done as in the cluster.
	Logf func(format string, args ...any)
}

// Summary counts what the workers did.
type Summary struct {
	Succeeded int
	// Failed counts worker processes that ended with a failure the Job
	// would retry.
	Failed int
}

// A Failure says why a run did not finish; Code is the exit status that
// tells the user so (see internal/exitcode).
type Failure struct {
	Code int
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

func failure(code int, format string, args ...any) error {
	return &Failure{Code: code, Err: fmt.Errorf(format, args...)}
}

// Seed runs the seeding Job's container once and waits for it. A non-zero
// exit is a *Failure with the seeder's status.
func Seed(ctx context.Context, job *batchv1.Job, opts Options) error {
	p, err := prepare(job, opts)
	if err != nil {
		return err
	}
	if err := p.command(ctx, opts).Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return failure(ee.ExitCode(), "the seeder exited with status %d", ee.ExitCode())
		}
		return fmt.Errorf("run the seeder: %w", err)
	}
	return nil
}

// Work runs the worker Job's container as local processes, keeping up to
// its parallelism running until its completions have succeeded, as the
// Job controller does for a NonIndexed Job: a worker that failed is
// replaced until more than backoffLimit have failed, and one whose status
// retrying cannot fix (exitcode.WorkFatal) ends the run.
func Work(ctx context.Context, job *batchv1.Job, opts Options) (Summary, error) {
	completions, parallelism := jobCounts(job)
	backoffLimit := orDefault(job.Spec.BackoffLimit, 6)
	p, err := prepare(job, opts)
	if err != nil {
		return Summary{}, err
	}
	results := make(chan int)
	var sum Summary
	active := 0
	var stop error
	start := func() error {
		c := p.command(ctx, opts)
		if err := c.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		active++
		go func() {
			err := c.Wait()
			code := exitcode.OK
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				code = exitcode.Broker
			}
			results <- code
		}()
		return nil
	}
	for {
		for stop == nil && active < parallelism && sum.Succeeded+active < completions {
			if err := start(); err != nil {
				stop = err
			}
		}
		if active == 0 {
			break
		}
		code := <-results
		active--
		switch {
		case code == exitcode.OK:
			sum.Succeeded++
		case code == exitcode.NoItem:
			if stop == nil {
				stop = failure(exitcode.Findings, "a worker found no item with %d of %d done: items were dead-lettered or are stuck", sum.Succeeded, completions)
			}
		case slices.Contains(exitcode.WorkFatal, code):
			if stop == nil {
				stop = failure(code, "a worker exited with status %d", code)
			}
		default:
			sum.Failed++
			if sum.Failed > backoffLimit && stop == nil {
				stop = failure(exitcode.Findings, "%d workers failed, more than backoffLimit %d", sum.Failed, backoffLimit)
			}
		}
	}
	if stop == nil && sum.Succeeded < completions {
		stop = failure(exitcode.Findings, "only %d of %d items succeeded", sum.Succeeded, completions)
	}
	return sum, stop
}

// process is what runs in place of a Job's one container.
type process struct {
	args, env []string
}

func (p process) command(ctx context.Context, opts Options) *exec.Cmd {
	c := exec.CommandContext(ctx, opts.Self)
	// argv[0] names the command, so a multi-call binary (such as a test
	// binary standing in for jobwq) dispatches it too.
	c.Args = append([]string{"jobwq"}, p.args...)
	c.Env = p.env
	c.Stdout, c.Stderr = opts.Stdout, opts.Stderr
	return c
}

// prepare reads job's container: its jobwq arguments, with volume paths
// made local, and its environment.
func prepare(job *batchv1.Job, opts Options) (process, error) {
	pod := job.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		return process{}, fmt.Errorf("job %s: want one container, found %d", job.Name, len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if len(ctr.Command) > 1 || (len(ctr.Command) == 1 && !strings.HasSuffix(ctr.Command[0], "/jobwq")) {
		return process{}, fmt.Errorf("job %s: container %s runs %q, not jobwq", job.Name, ctr.Name, ctr.Command)
	}
	args := slices.Clone(ctr.Args)
	for _, m := range ctr.VolumeMounts {
		dir, ok := opts.Volumes[m.Name]
		if !ok {
			continue
		}
		for i, a := range args {
			if name, value, ok := strings.Cut(a, "="); ok && value == m.MountPath {
				args[i] = name + "=" + dir
			} else if a == m.MountPath {
				args[i] = dir
			}
		}
	}
	return process{args: args, env: environment(ctr.Env, opts)}, nil
}

// environment is opts.Env with the container's variables on top: literal
// values as they are, the broker's replaced by opts.BrokerURL, and the
// rest of what the cluster would resolve taken from opts.Env if it is
// there.
func environment(vars []corev1.EnvVar, opts Options) []string {
	env := slices.Clone(opts.Env)
	set := func(name, value string) {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		env = append(env, name+"="+value)
	}
	for _, v := range vars {
		switch {
		case strings.HasPrefix(v.Name, brokerEnvPrefix):
			env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, v.Name+"=") })
		case v.ValueFrom == nil:
			set(v.Name, v.Value)
		case !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, v.Name+"=") }) && opts.Logf != nil:
			opts.Logf("env %s comes from the cluster (valueFrom), which cannot be resolved here; set it in the environment", v.Name)
		}
	}
	if opts.BrokerURL != "" {
		set(brokerEnvPrefix+"URL", opts.BrokerURL)
	}
	return env
}

// IndexedSummary is what an Indexed Job's local run did.
type IndexedSummary struct {
	Succeeded int
	// Failed counts processes that failed and were retried or gave up.
	Failed int
	// FailedIndexes are the indexes that failed more than
	// backoffLimitPerIndex times, in order.
	FailedIndexes []int
}

// Indexed runs an Indexed Job's container once per completion index,
// parallelism at a time, with $JOB_COMPLETION_INDEX set as Kubernetes
// sets it, retrying an index up to backoffLimitPerIndex times as the Job
// controller does; a status that retrying cannot fix (exit 2) ends the
// run, and more than maxFailedIndexes failed indexes stop it.
func Indexed(ctx context.Context, job *batchv1.Job, opts Options) (IndexedSummary, error) {
	completions, parallelism := jobCounts(job)
	perIndex := orDefault(job.Spec.BackoffLimitPerIndex, 0)
	maxFailed := orDefault(job.Spec.MaxFailedIndexes, -1) // -1: no limit
	p, err := prepare(job, opts)
	if err != nil {
		return IndexedSummary{}, err
	}
	type result struct{ index, code int }
	results := make(chan result)
	var sum IndexedSummary
	tries := make([]int, completions)
	next, active := 0, 0
	var retry []int
	var stop error
	start := func(index int) error {
		c := p.command(ctx, opts)
		c.Env = append(slices.Clone(c.Env), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index))
		if err := c.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		active++
		tries[index]++
		go func() {
			err := c.Wait()
			code := exitcode.OK
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				code = exitcode.Failed
			}
			results <- result{index, code}
		}()
		return nil
	}
	for {
		for stop == nil && active < parallelism && (len(retry) > 0 || next < completions) {
			index := next
			if len(retry) > 0 {
				index, retry = retry[0], retry[1:]
			} else {
				next++
			}
			if err := start(index); err != nil {
				stop = err
			}
		}
		if active == 0 {
			break
		}
		r := <-results
		active--
		switch {
		case r.code == exitcode.OK:
			sum.Succeeded++
		case r.code == exitcode.Usage:
			if stop == nil {
				stop = failure(exitcode.Usage, "index %d: the worker exited with status 2 (a usage error)", r.index)
			}
		default:
			sum.Failed++
			if tries[r.index] <= perIndex {
				retry = append(retry, r.index)
				continue
			}
			sum.FailedIndexes = append(sum.FailedIndexes, r.index)
			if maxFailed >= 0 && len(sum.FailedIndexes) > maxFailed && stop == nil {
				stop = failure(exitcode.Findings, "%d indexes failed, more than maxFailedIndexes %d", len(sum.FailedIndexes), maxFailed)
			}
		}
	}
	slices.Sort(sum.FailedIndexes)
	if stop == nil && len(sum.FailedIndexes) > 0 {
		stop = failure(exitcode.Findings, "%d of %d indexes failed after %d retries each: %s", len(sum.FailedIndexes), completions, perIndex, IndexList(sum.FailedIndexes))
	}
	return sum, stop
}

// IndexList writes indexes as Kubernetes writes status.failedIndexes:
// "1,3-5,7".
func IndexList(indexes []int) string {
	var b strings.Builder
	for i := 0; i < len(indexes); {
		j := i
		for j+1 < len(indexes) && indexes[j+1] == indexes[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", indexes[i], indexes[j])
		} else {
			fmt.Fprintf(&b, "%d", indexes[i])
		}
		i = j + 1
	}
	return b.String()
}

// jobCounts are a Job's completions and parallelism, with Kubernetes'
// defaults (1 and 1) where they are unset.
func jobCounts(job *batchv1.Job) (completions, parallelism int) {
	return orDefault(job.Spec.Completions, 1), max(orDefault(job.Spec.Parallelism, 1), 1)
}

// orDefault is *p, or def when the field is unset.
func orDefault(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}
