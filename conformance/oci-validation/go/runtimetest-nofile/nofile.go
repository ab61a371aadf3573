// Package nofile keeps runtimetest able to see the RLIMIT_NOFILE soft limit
// that the runtime under test set.
//
// Since Go 1.19, package os raises the soft RLIMIT_NOFILE to the hard limit
// in its init function, so an unmodified runtimetest reports the hard limit
// and "has expected soft RLIMIT_NOFILE" (process_rlimits) fails for every
// runtime. This package imports nothing but syscall; setup.sh makes it the
// first package runtimetest's main package imports, so that (Go 1.19/1.20
// initialise imports depth-first in import order) its init runs before the
// one in os and records the limit the process was started with. Restore,
// called from an init function of package main (which runs after every
// imported package), puts the soft limit back. setup.sh checks that this
// works with the toolchain it used.
package nofile

import "syscall"

var (
	atStart  syscall.Rlimit
	recorded bool
)

func init() {
	recorded = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &atStart) == nil
}

// Restore resets the soft RLIMIT_NOFILE to its value at process start.
func Restore() {
	if !recorded {
		return
	}
	var now syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now) != nil || now.Cur == atStart.Cur {
		return
	}
	if atStart.Cur <= now.Max {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: atStart.Cur, Max: now.Max})
	}
}
