package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "kapot",
		Short:         "kapot-go: a distributed SQL query engine",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(executorCmd(), schedulerCmd(), localCmd(), submitCmd(), tpchCmd(), sqlCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kapot:", err)
		if errors.Is(err, config.ErrInvalid) || isFlagError(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// flagError wraps errors cobra reports while parsing flags.
type flagError struct{ error }

func (f flagError) Unwrap() error { return f.error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func init() {
	cobra.EnableCommandSorting = false
}

// withFlagErrors makes flag parse errors exit with code 2.
func withFlagErrors(c *cobra.Command) *cobra.Command {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	return c
}
