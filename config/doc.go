// Package config loads rampart's YAML configuration: one file with a section
// per subcommand. It owns strict decoding (an unknown key or a bad value is an
// error that names the file, the line, the column and the key) and the
// position-carrying value types that other packages use in their own
// configuration structs. It knows nothing about what any section means: each
// subcommand's package declares its section type and validates its values.
package config
