"""The suite's own guarantees and tools: the case linter and requirement coverage, the
mutation gate with its catalogue of faulty references, and the benchmark."""
