// The figure stages (tag them 'figure' in the pipeline). Each lives in its own module under
// stages/figures/ so that its code digest covers only the plotting code it uses: editing the
// ED figure does not rebuild Figure 1. Params and inputs are documented at the top of each.
export { figureLrStage } from './figures/lr.ts';
export { figureBehaviourStage } from './figures/behaviour.ts';
export { figureEdStage } from './figures/ed.ts';
export { figureTaskPriorStage } from './figures/task-prior.ts';
export { figureCalibrationStage } from './figures/calibration.ts';
export { figuresIndexStage } from './figures/index-page.ts';
export { figureStyleSchema, type FigureStyle } from './figures/common.ts';
