export { chartJsSource, renderHtmlReport, type HtmlReportOptions } from './render.js';
export { chartArm, rankArms, reportModel, type Box, type ChartArm, type ReportModel, type WaterfallRow } from './model.js';
