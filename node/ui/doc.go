// Package ui is the explorer: the static page every node serves at / (issue
// 6). It shows the checkpoint chain newest first, live from the checkpoint
// stream; each checkpoint's votes; search by epoch, checkpoint hash,
// transaction hash or address; account lookup with its proof status;
// transaction lookup with its receipt; the validators and their connection
// state; and, for each epoch, its Chandy–Lamport global snapshot drawn as a
// space-time diagram with the consistent cut and the entries in flight.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no build
// step, no external assets) and calls the node's JSON API (package node/api)
// on the same origin. Handler serves the files; it does no I/O beyond
// writing responses and holds no state, so it needs no shutdown. The node
// wires it as api.Options.UI. docs/explorer.md explains how to read the
// picture.
package ui
