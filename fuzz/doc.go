// Package fuzz holds the fuzz targets that cross package boundaries: raw
// bytes fed through netloop framing into a full session with real tables,
// exactly as an event loop would feed them. Per-package targets (frame,
// ws, msg, jsonpath, valve) live next to their code; run.sh runs them all
// for a bounded time each.
package fuzz
