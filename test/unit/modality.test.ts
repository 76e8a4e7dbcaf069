import { describe, expect, it } from 'vitest';
import { answerModality, firstSentence, labelModality, MODALITY_RULES, scoreModalities } from '../../src/core/modality.js';
import { MODALITIES } from '../../src/core/dataset.js';

describe('modality of a caption (the data pipeline rule: first matching rule in the first sentence)', () => {
  it.each([
    ['The image is a non-contrast computed tomography (CT) scan of the brain, showing the skull.', 'CT'],
    ['The image is a T2-weighted magnetic resonance imaging (MRI) scan of the brain.', 'MRI'],
    ['The image is a frontal X-ray radiograph of the chest, showing both lungs.', 'X-ray'],
    ['The image is an ultrasound image of the liver, showing the parenchyma.', 'ultrasound'],
    ['The image is a histopathology image with hematoxylin and eosin (H&E) stain of the colon tissue.', 'pathology'],
    ['The image is an endoscopy image of the colon, showing the reddish mucosa.', 'endoscopy'],
    ['The image is a dermoscopy image of the skin, showing a pigmented skin lesion.', 'dermoscopy'],
    ['The image is a color fundus photograph of the retina, showing the optic disc.', 'fundus'],
    ['A fused PET/CT image of the thorax.', 'PET'],
    ['A mammogram of the left breast.', 'X-ray'],
  ])('%s → %s', (caption, want) => expect(labelModality(caption)).toBe(want));

  it('reads only the first sentence, as the pipeline does', () => {
    expect(labelModality('The image shows the brain. A CT scan would show more.')).toBeNull();
    expect(labelModality('A lesion of 3.5 cm on a CT scan. Later text.')).toBe('CT');
  });

  it('splits sentences like the pipeline: an ASCII stop only before whitespace, Chinese stops always', () => {
    expect(firstSentence('A 3.5 cm mass. More.')).toBe('A 3.5 cm mass.');
    expect(firstSentence('这是一张脑部CT图像。显示出血。')).toBe('这是一张脑部CT图像。');
  });

  it('names only modalities the dataset code knows', () => {
    for (const r of MODALITY_RULES) expect(MODALITIES).toContain(r.name);
  });
});

describe('modality an answer names (the earliest keyword anywhere)', () => {
  it.each([
    ['This CT scan looks unlike an MRI.', 'CT'],
    ['Unlike an MRI, this CT scan…', 'MRI'],
    ['The image is a The image is a The image', null],
    ['', null],
    ['这是一张脑部的CT图像，显示出血。', 'CT'],
    ['这是一张胸部X光片。', 'X-ray'],
    ['这是肝脏的超声图像。', 'ultrasound'],
    ['病理切片，HE染色。', 'pathology'],
    ['眼底照片，可见出血点。', 'fundus'],
    ['磁共振成像显示肿瘤。', 'MRI'],
    ['the abstract says nothing', null],
  ])('%j → %s', (answer, want) => expect(answerModality(answer)).toBe(want));

  it('does not find CT inside words', () => {
    expect(answerModality('an ischemic infarct in the cortex, intact structure')).toBeNull();
  });
});

describe('modality accuracy', () => {
  it('counts correct answers over scorable samples, unnamed answers as wrong', () => {
    const s = scoreModalities([
      { expected: 'CT', predicted: 'CT' },
      { expected: 'CT', predicted: 'MRI' },
      { expected: 'MRI', predicted: null },
      { expected: 'MRI', predicted: 'MRI' },
      { expected: null, predicted: 'CT' },
    ]);
    expect(s).toEqual({
      correct: 2,
      scored: 4,
      accuracy: 0.5,
      unnamed: 1,
      chance: 0.5,
      perModality: { CT: { correct: 1, total: 2 }, MRI: { correct: 1, total: 2 } },
    });
  });

  it('takes chance from the whole label set, not from the modalities a subset happens to hold', () => {
    const subset = [
      { expected: 'CT', predicted: 'CT' },
      { expected: 'CT', predicted: 'MRI' },
    ];
    expect(scoreModalities(subset).chance).toBe(1);
    expect(scoreModalities(subset, ['CT', 'MRI', 'X-ray', 'CT']).chance).toBeCloseTo(1 / 3);
    expect(scoreModalities(subset, []).chance).toBe(1);
  });

  it('has no accuracy when nothing is scorable', () => {
    expect(scoreModalities([{ expected: null, predicted: 'CT' }])).toMatchObject({ scored: 0, accuracy: null, chance: null });
  });
});
