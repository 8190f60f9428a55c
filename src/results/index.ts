export * from './model.js';
export { aggregateArm } from './aggregate.js';
export { evaluateThresholds, failureRateGate } from './thresholds.js';
export { armLegend, comparedSubject, failedText, formatValue, type MetricUnit } from './format.js';
export { COMPARE_METRICS, type CompareMetric, type Comparison, type EnvironmentComparison, type MachineLoad, type MetricComparison, type Verdict } from './comparison.js';
export { readResults } from './read.js';
export { headlineOf, headlineText, MIN_PRACTICAL, type Headline, type HeadlineTier } from './headline.js';
