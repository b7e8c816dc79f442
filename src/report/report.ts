import { buildReportData, type ReportOptions } from './build.js';
import { renderReportHtml } from './html.js';

/**
 * The HTML report of a run and/or a comparison, as one self-contained page (no network needed to open it): training
 * curves (the paper's Fig. 4), the comparison table (Table 3), DIN's attention over one test user's behaviours
 * (Fig. 5) and a 2-D map of the goods embeddings coloured by that user's predicted CTR (Fig. 6). What `din report`
 * writes.
 */
export async function renderReport(opts: ReportOptions): Promise<string> {
  return renderReportHtml(await buildReportData(opts));
}
