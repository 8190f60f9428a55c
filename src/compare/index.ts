export { compareResults, incomparability, readResults, specChanges, type Comparison, type CompareOptions, type MetricComparison, type Verdict } from './compare.js';
export { COMPARE_METRICS, METRICS, parseTolerances, type CompareMetric, type Tolerances } from './metrics.js';
export { formatValue, renderComparisonJunit, renderComparisonMarkdown, renderComparisonTable } from './render.js';
export { bootstrapDifference, pooled, seedOf, type Samples } from './bootstrap.js';
