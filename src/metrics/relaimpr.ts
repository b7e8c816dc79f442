/**
 * RelaImpr (DIN paper eq. 7): relative AUC improvement over a base model, measured from the random guesser's 0.5:
 * ((AUC_model − 0.5) / (AUC_base − 0.5) − 1) × 100, in percent.
 */
export function relaImpr(aucModel: number, aucBase: number): number {
  return ((aucModel - 0.5) / (aucBase - 0.5) - 1) * 100;
}
