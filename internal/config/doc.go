// Package config fills command-line flags from, in order of precedence, the
// command line, KAPOT_<COMPONENT>_* environment variables and a YAML file,
// so every setting has one parser and one error message naming its flag.
package config
