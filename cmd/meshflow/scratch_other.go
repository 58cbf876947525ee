//go:build !linux && !darwin

package main

import "errors"

func freeBytes(dir string) (int64, error) {
	return 0, errors.New("free space is not checked on this OS")
}
