import type { Model, ModelConfig, ModelContext } from './model.js';
import { BaseModel } from './base.js';
import { DinModel } from './din.js';

export { BaseModel } from './base.js';
export { DinModel } from './din.js';
export * from './model.js';

export function createModel(config: ModelConfig, ctx: ModelContext): Model {
  switch (config.model) {
    case 'base':
      return new BaseModel(config, ctx);
    case 'din':
      return new DinModel(config, ctx);
    default:
      throw new Error(`unknown model "${(config as { model: string }).model}" (expected base | din)`);
  }
}
