//go:build !unix

package retrieval

import "os"

// lockDir opens dir/LOCK; without flock, nothing stops a second process.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(dir+"/LOCK", os.O_CREATE|os.O_RDWR, 0o644)
}
