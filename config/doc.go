// Package config loads rampart's YAML configuration: one file with a section
// per subcommand. It owns strict decoding (every unknown key, wrong type and
// bad value is reported, each naming the file, the line, the column and the
// key, in a srcpos.List) and the value types that remember where they came
// from (Value, Prefix, Addr, AddrPort), so that validation, which runs after
// the command line has been applied, still says which line or which flag a
// bad value came from. It knows nothing about what any section means: each
// subcommand declares its section type and validates its values.
package config
