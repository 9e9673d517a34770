// Package docs holds flinkgate's documentation pages. It has no code: its
// test checks that every relative link between the pages, the READMEs and
// the code's pointers into the docs (such as the bounds a too_large denial
// names) leads to a file and heading that exist.
package docs
