import Testing

/// The graph suites that run the real binary, one at a time: each starts
/// nodes, shells and commands, and together beside the rest of the suite
/// they would load a two-core machine enough to slow its timed tests.
@Suite(.serialized) struct GraphEndToEnd {}
