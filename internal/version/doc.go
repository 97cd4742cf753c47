// Package version holds the build version and the wire protocol version.
package version
