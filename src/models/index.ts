import { EXTERNAL_TABLE_MODELS, MODEL_KINDS, type Model, type ModelConfig, type ModelContext } from './model.js';
import { BaseModel } from './base.js';
import { DinModel } from './din.js';
import { LrModel } from './lr.js';
import { WideDeepModel } from './wide-deep.js';
import { PnnModel } from './pnn.js';
import { DeepFmModel } from './deepfm.js';

export { BaseModel } from './base.js';
export { DinModel } from './din.js';
export { LrModel } from './lr.js';
export { WideDeepModel } from './wide-deep.js';
export { PnnModel } from './pnn.js';
export { DeepFmModel } from './deepfm.js';
export * from './model.js';

/**
 * Builds an untrained model of kind `config.model` on `ctx.backend`, with weights initialized from `ctx.seed`. Use it
 * rather than the model classes (it checks that the kind can keep its tables in a row store when asked to).
 * Throws on an unknown kind or an invalid config (the message names the field).
 */
export function createModel(config: ModelConfig, ctx: ModelContext): Model {
  if (ctx.externalTables && !EXTERNAL_TABLE_MODELS.includes(config.model)) {
    throw new Error(`model "${config.model}" cannot keep its tables in a row store (supported: ${EXTERNAL_TABLE_MODELS.join(', ')})`);
  }
  return makeModel(config, ctx);
}

function makeModel(config: ModelConfig, ctx: ModelContext): Model {
  switch (config.model) {
    case 'lr':
      return new LrModel(config, ctx);
    case 'base':
      return new BaseModel(config, ctx);
    case 'wide-deep':
      return new WideDeepModel(config, ctx);
    case 'pnn':
      return new PnnModel(config, ctx);
    case 'deepfm':
      return new DeepFmModel(config, ctx);
    case 'din':
      return new DinModel(config, ctx);
    default:
      throw new Error(`unknown model "${(config as { model: string }).model}" (expected ${MODEL_KINDS.join(' | ')})`);
  }
}
