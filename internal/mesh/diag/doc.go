// Package diag holds the diagnostics meshflow reports about the files a mesh is
// made of: where a problem is (file, line and column), what is wrong, and what to do
// about it. Every loader collects all of its problems into a List instead of stopping
// at the first, and the command line renders them with the offending source line and a
// caret under the column, or as JSON for machines.
package diag
