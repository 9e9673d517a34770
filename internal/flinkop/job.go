package flinkop

// The job and what runs it: the artifact, the Flink version and image, the
// job's state and upgrade mode, and the two kinds of pod's resources.

import (
	"encoding/json"
	"strings"
)

func translateArtifact(ts map[string]any, fd *FlinkDeployment) error {
	const at = "spec.template.spec.artifact"
	a, err := object(ts, "artifact", at, true)
	if err != nil {
		return err
	}
	if err := onlyFields(a, at+".", artifactFields); err != nil {
		return err
	}
	kind, err := str(a, "kind", at+".kind")
	if err != nil {
		return err
	}
	// VVP's documentation and this project's examples write the kind in
	// either case.
	switch strings.ToUpper(kind) {
	case "", "JAR":
	case "SQLSCRIPT":
		return deny(at+".kind", "SQL script artifacts have no counterpart: a FlinkDeployment runs a JAR; package the SQL in a JAR (for example with the operator's flink-sql-runner example) and use kind JAR")
	case "PYTHON":
		return deny(at+".kind", "Python artifacts are not translated yet; use kind JAR")
	default:
		return deny(at+".kind", "%q is not an artifact kind; use JAR", kind)
	}
	if fd.Spec.Job.JarURI, err = lineString(a, "jarUri", at+".jarUri"); err != nil {
		return err
	}
	if fd.Spec.Job.JarURI == "" {
		return deny(at+".jarUri", "is missing; a FlinkDeployment runs a JAR, for example local:///opt/flink/usrlib/job.jar or s3://bucket/job.jar")
	}
	if fd.Spec.Job.EntryClass, err = lineString(a, "entryClass", at+".entryClass"); err != nil {
		return err
	}
	mainArgs, err := str(a, "mainArgs", at+".mainArgs")
	if err != nil {
		return err
	}
	if fd.Spec.Job.Args, err = SplitArgs(mainArgs); err != nil {
		return deny(at+".mainArgs", "%s; quote arguments with spaces in double or single quotes, and close every quote", err)
	}
	for i, arg := range fd.Spec.Job.Args {
		if r, ok := controlChar(arg); ok {
			return deny(at+".mainArgs", "argument %d holds the control character %U (a line break or tab inside quotes, or escaped): the operator writes the arguments into Flink's configuration file, read line by line, where it would start another key; separate arguments with blanks outside quotes, and keep control characters out of them", i+1, r)
		}
	}
	if deps, ok := a["additionalDependencies"]; ok && deps != nil {
		l, isList := deps.([]any)
		if !isList || len(l) > 0 {
			return deny(at+".additionalDependencies", "additional dependencies have no counterpart: the operator runs one JAR; build a JAR with its dependencies, or add them to the image")
		}
	}
	version, err := flinkVersion(a, at+".flinkVersion")
	if err != nil {
		return err
	}
	fd.Spec.FlinkVersion = "v" + strings.ReplaceAll(version, ".", "_")
	fd.Spec.Image, err = image(a, at, version)
	return err
}

func flinkVersion(a map[string]any, field string) (string, error) {
	var v string
	switch x := a["flinkVersion"].(type) {
	case nil:
		return "", deny(field, "is missing; the operator needs the Flink version, one of %s", strings.Join(flinkVersions, ", "))
	case string:
		v = x
	case json.Number:
		v = x.String()
	default:
		return "", deny(field, "must be a version such as \"1.20\", got %s", kindOf(x))
	}
	for _, known := range flinkVersions {
		if v == known {
			return v, nil
		}
	}
	return "", deny(field, "%q is not a Flink version the operator (release 1.15) runs; use one of %s", v, strings.Join(flinkVersions, ", "))
}

// image is registry/repository:tag. The repository defaults to "flink" and
// the tag to the Flink version; a tag that is a digest (sha256:...) is
// joined with '@'.
func image(a map[string]any, at, version string) (string, error) {
	registry, err := lineString(a, "flinkImageRegistry", at+".flinkImageRegistry")
	if err != nil {
		return "", err
	}
	repo, err := lineString(a, "flinkImageRepository", at+".flinkImageRepository")
	if err != nil {
		return "", err
	}
	tag, err := lineString(a, "flinkImageTag", at+".flinkImageTag")
	if err != nil {
		return "", err
	}
	if repo == "" {
		repo = DefaultImageRepository
	}
	if tag == "" {
		tag = version
	}
	ref := repo
	if registry != "" {
		ref = strings.TrimSuffix(registry, "/") + "/" + repo
	}
	if strings.HasPrefix(tag, "sha256:") {
		return ref + "@" + tag, nil
	}
	return ref + ":" + tag, nil
}

// translateJob maps state and the upgrade and restore strategies:
//
//	state RUNNING / SUSPENDED → job.state running / suspended
//	state CANCELLED → job.state suspended, upgradeMode stateless: the
//	  operator stops the job without a savepoint and removes the cluster,
//	  as VVP's cancel does
//	restoreStrategy LATEST_SAVEPOINT (VVP's default) → upgradeMode savepoint
//	restoreStrategy LATEST_STATE → last-state
//	restoreStrategy NONE → stateless
//	upgradeStrategy STATEFUL (default) → as the restore strategy says
//	upgradeStrategy STATELESS → stateless with restore NONE, last-state with
//	  LATEST_STATE; with LATEST_SAVEPOINT it is denied (no counterpart)
//	upgradeStrategy NONE → denied (the operator always applies changes)
func translateJob(spec map[string]any, fd *FlinkDeployment) error {
	state, err := str(spec, "state", "spec.state")
	if err != nil {
		return err
	}
	upgrade, restore := "STATEFUL", "LATEST_SAVEPOINT"
	if us, err := object(spec, "upgradeStrategy", "spec.upgradeStrategy", false); err != nil {
		return err
	} else if us != nil {
		if err := onlyFields(us, "spec.upgradeStrategy.", []string{"kind"}); err != nil {
			return err
		}
		if k, err := str(us, "kind", "spec.upgradeStrategy.kind"); err != nil {
			return err
		} else if k != "" {
			upgrade = k
		}
	}
	if rs, err := object(spec, "restoreStrategy", "spec.restoreStrategy", false); err != nil {
		return err
	} else if rs != nil {
		if err := onlyFields(rs, "spec.restoreStrategy.", []string{"kind", "allowNonRestoredState"}); err != nil {
			return err
		}
		if k, err := str(rs, "kind", "spec.restoreStrategy.kind"); err != nil {
			return err
		} else if k != "" {
			restore = k
		}
		if v, ok := rs["allowNonRestoredState"]; ok && v != nil {
			b, isBool := v.(bool)
			if !isBool {
				return deny("spec.restoreStrategy.allowNonRestoredState", "must be true or false, got %s", kindOf(v))
			}
			fd.Spec.Job.AllowNonRestoredState = &b
		}
	}
	var mode string
	switch restore {
	case "LATEST_SAVEPOINT":
		mode = "savepoint"
	case "LATEST_STATE":
		mode = "last-state"
	case "NONE":
		mode = "stateless"
	default:
		return deny("spec.restoreStrategy.kind", "%q is not a restore strategy; use LATEST_SAVEPOINT, LATEST_STATE or NONE", restore)
	}
	switch upgrade {
	case "STATEFUL":
	case "STATELESS":
		if restore == "LATEST_SAVEPOINT" {
			return deny("spec.upgradeStrategy.kind", "STATELESS with restore strategy LATEST_SAVEPOINT (restore from an older savepoint without taking a new one) has no counterpart; set spec.restoreStrategy.kind to NONE (start without state) or LATEST_STATE (restore from the latest checkpoint)")
		}
	case "NONE":
		return deny("spec.upgradeStrategy.kind", "NONE (leave the running job alone when the spec changes) has no counterpart: the operator always applies a changed spec; use STATEFUL or STATELESS")
	default:
		return deny("spec.upgradeStrategy.kind", "%q is not an upgrade strategy; use STATEFUL or STATELESS", upgrade)
	}
	switch state {
	case "", "RUNNING":
		fd.Spec.Job.State = "running"
	case "SUSPENDED":
		fd.Spec.Job.State = "suspended"
	case "CANCELLED":
		fd.Spec.Job.State = "suspended"
		mode = "stateless"
	default:
		return deny("spec.state", "%q cannot be asked for; use RUNNING, SUSPENDED or CANCELLED", state)
	}
	fd.Spec.Job.UpgradeMode = mode
	return nil
}

func translateResources(ts map[string]any, fd *FlinkDeployment) error {
	fd.Spec.JobManager.Resource = Resource{CPU: DefaultJobManagerCPU, Memory: DefaultJobManagerMemory}
	fd.Spec.TaskManager.Resource = Resource{CPU: DefaultTaskManagerCPU, Memory: DefaultTaskManagerMemory}
	r, err := object(ts, "resources", "spec.template.spec.resources", false)
	if err != nil || r == nil {
		return err
	}
	if err := onlyFields(r, "spec.template.spec.resources.", []string{"jobmanager", "taskmanager"}); err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		res *Resource
	}{{"jobmanager", &fd.Spec.JobManager.Resource}, {"taskmanager", &fd.Spec.TaskManager.Resource}} {
		at := "spec.template.spec.resources." + c.key
		m, err := object(r, c.key, at, false)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if err := onlyFields(m, at+".", resourceFields); err != nil {
			return err
		}
		if v, ok := m["cpu"]; ok && v != nil {
			n, isNumber := v.(json.Number)
			if f, err := n.Float64(); !isNumber || err != nil || f <= 0 {
				return deny(at+".cpu", "must be a positive number of CPUs such as 1 or 0.5, got %s", describe(v))
			}
			c.res.CPU = n
		}
		if v, ok := m["memory"]; ok && v != nil {
			q, err := MemoryQuantity(v)
			if err != nil {
				return deny(at+".memory", "%s", err)
			}
			c.res.Memory = q
		}
	}
	return nil
}
