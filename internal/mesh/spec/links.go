package spec

import (
	"io/fs"
	"path/filepath"
	"strings"
)

// LeavesMesh returns where p leads when it resolves, through symbolic links,
// outside the mesh folder dir, and "" when it stays inside it or does not
// exist (a missing file is reported where it is read). Mesh files and local
// inputs are read by whoever validates, applies or runs the mesh: a link in
// the mesh folder to /etc/passwd or a key file would hand its content to
// anyone who may change the folder.
func LeavesMesh(dir, p string) string {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return real
	}
	return ""
}

// linkOutOfMesh returns a path below p (p itself, or any file or folder
// under it when it is a folder) that resolves outside the mesh folder dir,
// and where it leads; "" when there is none. Only symbolic links are
// resolved, so a large input folder costs one walk of its names.
func linkOutOfMesh(dir, p string) (string, string) {
	if to := LeavesMesh(dir, p); to != "" {
		return p, to
	}
	var at, to string
	_ = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if out := LeavesMesh(dir, f); out != "" {
				at, to = f, out
				return filepath.SkipAll
			}
		}
		return nil
	})
	return at, to
}
