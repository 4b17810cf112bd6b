// Package api owns what Gureum knows about each served resource: its place in
// the API (group, version, plural, kind, scope, short names, categories,
// subresources) and its strategy (defaulting, validation, table columns and
// field selectors). It does no I/O; internal/apiserver serves HTTP from it.
package api
