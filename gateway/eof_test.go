package gateway

import "io"

var errEOF = io.EOF
