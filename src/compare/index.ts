export { compareResults, incomparability, specChanges, type CompareOptions } from './compare.js';
export { compareEnvironments, machineLoad } from './environment.js';
export { readResults, type Comparison, type MetricComparison, type Verdict } from '../results/index.js';
export { COMPARE_METRICS, METRICS, parseTolerances, type CompareMetric, type Tolerances } from './metrics.js';
export { formatValue, renderComparisonJunit, renderComparisonMarkdown, renderComparisonTable } from './render.js';
export { bootstrapDifference, pooled, seedOf, type Samples } from '../measure/bootstrap.js';
export { analyseHistory, historyFiles, renderHistory, type History } from './history.js';
