/** Every screen gets the cells it may fill (the area between the tab bar and the key bar). */
export interface ScreenProps {
  width: number;
  height: number;
}
