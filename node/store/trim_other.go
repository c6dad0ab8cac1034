//go:build !linux

package store

func trimMappings(string) (mapped, resident uint64, err error) {
	return 0, 0, ErrTrimUnsupported
}
