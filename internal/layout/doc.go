// Package layout holds no code: its test enforces the one-way import rules
// that make the folder tree read as the architecture (docs/architecture.md).
//
//   - the engine (pipeline/) imports no component, connection, model or task;
//   - models/ knows models, not pipelines or tasks;
//   - connections/ hold broker sessions and import no source, stage or sink;
//   - a component imports no other component;
//   - the task libraries (vision/, anomaly/) import no engine.
package layout
